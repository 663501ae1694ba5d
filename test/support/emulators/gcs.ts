import { spawn } from "node:child_process";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";
import type { EmulatorStarter, RunningEmulator } from "./emulator.ts";

/**
 * Cloud Storage on loopback: the Firebase CLI's storage emulator server (devDependency `firebase-tools`) run
 * without its Java rules runtime, in a child process (`gcs-server.ts`). It serves the JSON API that
 * `@google-cloud/storage` uses (upload, download, list, metadata, delete) with no authentication; buckets appear
 * on first use. Limits: it ignores preconditions (`ifGenerationMatch`) and does not implement copy/rewrite.
 */
const SERVER = fileURLToPath(new URL("./gcs-server.ts", import.meta.url));
const START_TIMEOUT_MS = 30_000;
const STOP_TIMEOUT_MS = 5_000;

function firebaseToolsMissing(): string | undefined {
  try {
    createRequire(import.meta.url).resolve("firebase-tools/lib/emulator/storage/server.js");
    return undefined;
  } catch {
    return "firebase-tools is not installed (npm install --include=dev), so there is no Cloud Storage emulator";
  }
}

export const gcsEmulator: EmulatorStarter = {
  name: "gcs",
  unavailable: firebaseToolsMissing,
  start: () =>
    new Promise<RunningEmulator>((resolve, reject) => {
      // Same Node binary as the test runner; stdin stays open as a lifeline: the server exits when it closes,
      // so it dies with this process even if stop() is never called.
      const child = spawn(process.execPath, [SERVER, "sightline-test"], {
        stdio: ["pipe", "pipe", "pipe"],
        env: { ...process.env, STORAGE_EMULATOR_DEBUG: "" },
      });
      let stdout = "";
      let stderr = "";
      let ready = false;
      const exited = new Promise<void>((res) => child.once("exit", () => res()));
      const fail = (why: string): void => {
        if (ready) return;
        ready = true;
        clearTimeout(timer);
        child.kill("SIGKILL");
        reject(new Error(`gcs emulator did not start: ${why}${stderr ? `\n${stderr.trim()}` : ""}`));
      };
      const timer = setTimeout(() => fail(`no port after ${START_TIMEOUT_MS} ms`), START_TIMEOUT_MS);
      child.stderr.setEncoding("utf8").on("data", (d: string) => {
        stderr = (stderr + d).slice(-4000);
      });
      child.once("error", (err) => fail(err.message));
      child.once("exit", (code, signal) => fail(`server exited (${signal ?? `code ${code}`})`));
      child.stdout.setEncoding("utf8").on("data", (d: string) => {
        if (ready) return;
        stdout += d;
        const line = stdout.split("\n").find((l) => l.startsWith("{"));
        if (!line) return;
        const port = (JSON.parse(line) as { port?: unknown }).port;
        if (typeof port !== "number") return fail(`unexpected output ${JSON.stringify(line)}`);
        ready = true;
        clearTimeout(timer);
        child.stdout.resume();
        resolve({
          host: `127.0.0.1:${port}`,
          stop: async () => {
            if (child.exitCode !== null || child.signalCode !== null) return;
            child.kill("SIGTERM");
            const killer = setTimeout(() => child.kill("SIGKILL"), STOP_TIMEOUT_MS);
            await exited;
            clearTimeout(killer);
          },
        });
      });
    }),
};
