import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { createServer } from "node:net";
import { setTimeout as sleep } from "node:timers/promises";
import type { EmulatorStarter, RunningEmulator } from "./emulator.ts";

/**
 * The Cloud Firestore emulator shipped with the gcloud SDK. We run its jar with `java` directly (the same command
 * line as the SDK's `cloud_firestore_emulator` wrapper) so that the PID we hold is the JVM itself: killing a wrapper
 * leaves Java running. Three layers keep the JVM from outliving the test run: `stop()` (SIGTERM, then SIGKILL,
 * waiting for exit), a synchronous `process.on("exit")` kill, and `setpriv --pdeathsig KILL` so the kernel kills
 * the JVM if the Node process dies without running its exit handlers.
 */
const SDK = process.env.CLOUDSDK_ROOT_DIR ?? "/usr/lib/google-cloud-sdk";
const EMULATOR_DIR = `${SDK}/platform/cloud-firestore-emulator`;
const JAR = `${EMULATOR_DIR}/cloud-firestore-emulator.jar`;
const MAIN_CLASS = "com.google.cloud.datastore.emulator.firestore.CloudFirestore";
const JAVA = process.env.JAVA ?? "java";
const START_TIMEOUT_MS = 60_000;

function hasCommand(command: string, args: string[]): boolean {
  const r = spawnSync(command, args, { stdio: "ignore", timeout: 20_000 });
  return r.error === undefined && r.status === 0;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address !== null ? address.port : 0;
      server.close(() => (port > 0 ? resolve(port) : reject(new Error("no free port"))));
    });
  });
}

async function answers(url: string): Promise<boolean> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(1_000) });
    await res.arrayBuffer();
    return res.ok;
  } catch {
    return false;
  }
}

function exited(child: ChildProcess): boolean {
  return child.exitCode !== null || child.signalCode !== null;
}

async function waitForExit(child: ChildProcess, ms: number): Promise<boolean> {
  if (exited(child)) return true;
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(exited(child)), ms);
    child.once("exit", () => {
      clearTimeout(timer);
      resolve(true);
    });
  });
}

export const firestoreEmulator: EmulatorStarter = {
  name: "firestore",
  unavailable() {
    if (!existsSync(JAR)) return `Firestore emulator jar not found at ${JAR} (install google-cloud-cli-firestore-emulator)`;
    if (!hasCommand(JAVA, ["-version"])) return `\`${JAVA}\` is not runnable (the Firestore emulator needs a Java runtime)`;
    return undefined;
  },
  async start(): Promise<RunningEmulator> {
    const port = await freePort();
    const host = `127.0.0.1:${port}`;
    const javaArgs = ["-Duser.language=en", "-cp", JAR, MAIN_CLASS, "start", "--host=127.0.0.1", `--port=${port}`];
    // setpriv execs java, so the PID stays the JVM's own.
    const usePdeathsig = hasCommand("setpriv", ["--version"]);
    const [command, args] = usePdeathsig ? ["setpriv", ["--pdeathsig", "KILL", JAVA, ...javaArgs]] : [JAVA, javaArgs];
    const child = spawn(command, args, { stdio: ["ignore", "pipe", "pipe"] });
    let output = "";
    const collect = (chunk: Buffer): void => {
      output = (output + chunk.toString("utf8")).slice(-8_000);
    };
    child.stdout?.on("data", collect);
    child.stderr?.on("data", collect);
    const killOnExit = (): void => {
      if (!exited(child)) child.kill("SIGKILL");
    };
    process.on("exit", killOnExit);

    const stop = async (): Promise<void> => {
      process.off("exit", killOnExit);
      if (exited(child)) return;
      child.kill("SIGTERM");
      if (!(await waitForExit(child, 5_000))) {
        child.kill("SIGKILL");
        await waitForExit(child, 5_000);
      }
      child.stdout?.destroy();
      child.stderr?.destroy();
    };

    const deadline = Date.now() + START_TIMEOUT_MS;
    while (!(await answers(`http://${host}/`))) {
      if (exited(child) || Date.now() > deadline) {
        await stop();
        throw new Error(`Firestore emulator did not start on ${host}:\n${output}`);
      }
      await sleep(100);
    }
    return { host, stop };
  },
};
