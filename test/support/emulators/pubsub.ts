import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { EmulatorStarter, RunningEmulator } from "./emulator.ts";

/**
 * The Pub/Sub emulator shipped with the gcloud SDK, started as the bare Java process (the SDK's
 * `gcloud beta emulators pubsub start` wrapper would leave the Java child behind when killed).
 */
const SDK_ROOT = process.env.CLOUDSDK_ROOT_DIR ?? "/usr/lib/google-cloud-sdk";
const EMULATOR_LIB = join(SDK_ROOT, "platform", "pubsub-emulator", "lib");
const JAR_PATTERN = /^cloud-pubsub-emulator-.*-all\.jar$/;
const READY_TIMEOUT_MS = 60_000;

function javaCommand(): string {
  const home = process.env.JAVA_HOME;
  return home ? join(home, "bin", "java") : "java";
}

function findJar(): string | undefined {
  if (!existsSync(EMULATOR_LIB)) return undefined;
  const jar = readdirSync(EMULATOR_LIB)
    .filter((f) => JAR_PATTERN.test(f))
    .sort()
    .at(-1);
  return jar === undefined ? undefined : join(EMULATOR_LIB, jar);
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once("exit", () => resolve()));
}

async function answers(host: string): Promise<boolean> {
  try {
    const response = await fetch(`http://${host}/`, { signal: AbortSignal.timeout(1_000) });
    await response.body?.cancel();
    return response.ok;
  } catch {
    return false;
  }
}

export const pubsubEmulator: EmulatorStarter = {
  name: "pubsub",

  unavailable(): string | undefined {
    const java = spawnSync(javaCommand(), ["-version"], { stdio: "ignore" });
    if (java.error !== undefined || java.status !== 0) return `no usable java (${javaCommand()})`;
    if (findJar() === undefined) return `no Pub/Sub emulator jar in ${EMULATOR_LIB}`;
    return undefined;
  },

  async start(): Promise<RunningEmulator> {
    const jar = findJar();
    if (jar === undefined) throw new Error(`no Pub/Sub emulator jar in ${EMULATOR_LIB}`);
    const port = await freePort();
    const host = `127.0.0.1:${port}`;
    const dataDir = mkdtempSync(join(tmpdir(), "sightline-pubsub-"));
    const java = spawn(javaCommand(), ["-jar", jar, "--host=127.0.0.1", `--port=${port}`], {
      cwd: dataDir,
      stdio: ["ignore", "pipe", "pipe"],
    });
    const pid = java.pid;
    if (pid === undefined) throw new Error("could not start the Pub/Sub emulator (no pid)");
    let log = "";
    const keep = (chunk: Buffer): void => {
      log = (log + chunk.toString("utf8")).slice(-4_000);
    };
    java.stdout.on("data", keep);
    java.stderr.on("data", keep);

    // Watchdog: if this Node process dies without calling stop() (even by SIGKILL), the pipe to the
    // watchdog closes, `read` returns and the Java process is killed. No emulator outlives the run.
    const watchdog = spawn("sh", ["-c", `read _ ; kill -9 ${pid} 2>/dev/null`], {
      stdio: ["pipe", "ignore", "ignore"],
      detached: true,
    });
    const killOnExit = (): void => {
      try {
        process.kill(pid, "SIGKILL");
      } catch {
        // already gone
      }
    };
    process.once("exit", killOnExit);

    let stopped: Promise<void> | undefined;
    const stop = (): Promise<void> => {
      stopped ??= (async () => {
        process.removeListener("exit", killOnExit);
        if (java.exitCode === null && java.signalCode === null) {
          java.kill("SIGTERM");
          const timer = setTimeout(() => java.kill("SIGKILL"), 5_000);
          await exited(java);
          clearTimeout(timer);
        }
        watchdog.stdin?.end();
        await exited(watchdog);
        rmSync(dataDir, { recursive: true, force: true });
      })();
      return stopped;
    };

    const deadline = Date.now() + READY_TIMEOUT_MS;
    while (!(await answers(host))) {
      if (java.exitCode !== null || java.signalCode !== null) {
        await stop();
        throw new Error(`Pub/Sub emulator exited (${java.exitCode ?? java.signalCode}) before answering: ${log}`);
      }
      if (Date.now() > deadline) {
        await stop();
        throw new Error(`Pub/Sub emulator did not answer on ${host} within ${READY_TIMEOUT_MS} ms: ${log}`);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    return { host, stop };
  },
};
