import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import type { RunningEmulator } from "./emulator.ts";

export const JAVA = process.env.JAVA_HOME ? join(process.env.JAVA_HOME, "bin", "java") : "java";
export const SDK_ROOT = process.env.CLOUDSDK_ROOT_DIR ?? "/usr/lib/google-cloud-sdk";
const START_TIMEOUT_MS = 60_000;

export function runs(command: string, args: string[]): boolean {
  const r = spawnSync(command, args, { stdio: "ignore", timeout: 20_000 });
  return r.error === undefined && r.status === 0;
}

/** Why Java cannot run here, or undefined. */
export function javaUnavailable(): string | undefined {
  return runs(JAVA, ["-version"])
    ? undefined
    : `\`${JAVA}\` is not runnable (the gcloud emulators need a Java runtime)`;
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

/**
 * Starts a gcloud SDK emulator as the bare JVM on a free loopback port and waits until it answers HTTP. The PID we
 * hold is the JVM's own (the SDK's wrappers leave Java running when killed). Three layers keep it from outliving
 * the run: stop() (SIGTERM, then SIGKILL, waiting for exit), a synchronous kill on process exit, and
 * `setpriv --pdeathsig KILL`, so the kernel kills the JVM if Node dies without running its exit handlers.
 */
export async function startJavaEmulator(name: string, javaArgs: (port: number) => string[]): Promise<RunningEmulator> {
  const port = await freePort();
  const host = `127.0.0.1:${port}`;
  const workDir = mkdtempSync(join(tmpdir(), `sightline-${name}-`));
  const args = [JAVA, ...javaArgs(port)];
  // setpriv execs java, so the PID stays the JVM's.
  const [command, ...rest] = runs("setpriv", ["--version"]) ? ["setpriv", "--pdeathsig", "KILL", ...args] : args;
  const child = spawn(command as string, rest, { cwd: workDir, stdio: ["ignore", "pipe", "pipe"] });
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

  let stopped: Promise<void> | undefined;
  const stop = (): Promise<void> =>
    (stopped ??= (async () => {
      process.off("exit", killOnExit);
      if (!exited(child)) {
        child.kill("SIGTERM");
        if (!(await waitForExit(child, 5_000))) {
          child.kill("SIGKILL");
          await waitForExit(child, 5_000);
        }
      }
      child.stdout?.destroy();
      child.stderr?.destroy();
      rmSync(workDir, { recursive: true, force: true });
    })());

  const deadline = Date.now() + START_TIMEOUT_MS;
  while (!(await answers(`http://${host}/`))) {
    if (exited(child) || Date.now() > deadline) {
      await stop();
      throw new Error(
        `${name} emulator did not start on ${host} (exit ${child.exitCode ?? child.signalCode ?? "none"}):\n${output}`,
      );
    }
    await sleep(100);
  }
  return { host, stop };
}
