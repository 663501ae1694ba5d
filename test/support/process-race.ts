import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import type { RaceResult, RaceTask } from "./meta-race.ts";

const WORKER = fileURLToPath(new URL("./meta-race-worker.ts", import.meta.url));

/** Runs a race with one OS process per writer against one SQLite file, released together once all are ready. */
export async function raceInProcesses(dbPath: string, task: RaceTask): Promise<RaceResult[]> {
  const children = Array.from({ length: task.writers }, (_, i) => {
    const child = spawn(process.execPath, [WORKER, dbPath, JSON.stringify(task), `w${i}`], {
      stdio: ["pipe", "pipe", "inherit"],
    });
    let out = "";
    child.stdout.on("data", (d: Buffer) => (out += d.toString()));
    const ready = new Promise<void>((res, rej) => {
      const check = (): void => {
        if (out.includes("ready\n")) res();
      };
      child.stdout.on("data", check);
      child.once("exit", (code) => rej(new Error(`writer w${i} exited with ${code} before it was ready`)));
    });
    const done = new Promise<RaceResult>((res, rej) => {
      child.once("exit", (code) => {
        const line = out.split("\n").find((l) => l.startsWith("{"));
        if (code === 0 && line) res(JSON.parse(line) as RaceResult);
        else rej(new Error(`writer w${i} exited with ${code}: ${out}`));
      });
    });
    done.catch(() => {});
    return { child, ready, done };
  });
  await Promise.all(children.map((c) => c.ready));
  for (const c of children) c.child.stdin.write("go\n");
  return Promise.all(children.map((c) => c.done));
}
