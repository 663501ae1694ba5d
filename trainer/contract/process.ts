import { spawn } from "node:child_process";
import { closeSync, openSync } from "node:fs";
import { open } from "node:fs/promises";
import { MetricsLineSchema, type MetricsLine } from "../../core/jobs/trainer-contract.ts";

export interface TrainerProcess {
  argv: string[];
  cwd: string;
  env: NodeJS.ProcessEnv;
  /** stdout and stderr go here (appended), so the trainer's output is kept with the job. */
  logPath: string;
  timeoutSeconds: number;
  /** metrics.jsonl, followed while the trainer runs. */
  metricsPath: string;
  onMetrics: (line: MetricsLine) => void;
  onInvalidMetrics: (line: string, why: string) => void;
  /** Seconds between reads of metrics.jsonl. */
  pollSeconds?: number;
}

export interface TrainerExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  timedOut: boolean;
  seconds: number;
}

/** After SIGTERM on timeout, how long the trainer gets to save a checkpoint before SIGKILL. */
const GRACE_MS = 10_000;

/**
 * Runs the trainer and follows its metrics.jsonl until it exits. It is stopped (SIGTERM, then SIGKILL) when it runs
 * past its timeout, and when this process is told to stop, so a killed job leaves no trainer running.
 */
export async function runTrainerProcess(p: TrainerProcess): Promise<TrainerExit> {
  const fd = openSync(p.logPath, "a");
  const started = performance.now();
  const child = spawn(p.argv[0]!, p.argv.slice(1), { cwd: p.cwd, env: p.env, stdio: ["ignore", fd, fd] });
  closeSync(fd);
  const follower = followMetrics(p);
  let timedOut = false;
  const stop = (): void => {
    child.kill("SIGTERM");
    setTimeout(() => child.kill("SIGKILL"), GRACE_MS).unref();
  };
  const timer = setTimeout(() => {
    timedOut = true;
    stop();
  }, p.timeoutSeconds * 1000);
  const onSignal = (): void => stop();
  process.once("SIGTERM", onSignal);
  process.once("SIGINT", onSignal);
  try {
    const { code, signal } = await new Promise<{ code: number | null; signal: NodeJS.Signals | null }>(
      (resolve, reject) => {
        child.once("error", (err) =>
          reject(new Error(`cannot start trainer ${JSON.stringify(p.argv[0])}: ${err.message}`, { cause: err })),
        );
        child.once("exit", (code, signal) => resolve({ code, signal }));
      },
    );
    return { code, signal, timedOut, seconds: (performance.now() - started) / 1000 };
  } finally {
    clearTimeout(timer);
    process.off("SIGTERM", onSignal);
    process.off("SIGINT", onSignal);
    await follower.stop();
  }
}

/** Reads new complete lines of metrics.jsonl every poll; the last read happens after the trainer exits. */
function followMetrics(p: TrainerProcess): { stop: () => Promise<void> } {
  let offset = 0;
  let partial = "";
  let reading: Promise<void> = Promise.resolve();
  const read = async (final: boolean): Promise<void> => {
    let file;
    try {
      file = await open(p.metricsPath, "r");
    } catch {
      return; // not written yet
    }
    try {
      const { size } = await file.stat();
      if (size > offset) {
        const buffer = Buffer.alloc(size - offset);
        await file.read(buffer, 0, buffer.length, offset);
        offset = size;
        partial += buffer.toString("utf8");
      }
    } finally {
      await file.close();
    }
    const lines = partial.split("\n");
    partial = final ? "" : lines.pop()!;
    for (const line of lines.map((l) => l.trim()).filter(Boolean)) parseLine(line, p);
  };
  const timer = setInterval(() => (reading = reading.then(() => read(false))), (p.pollSeconds ?? 1) * 1000);
  return {
    stop: async () => {
      clearInterval(timer);
      await reading;
      await read(true);
    },
  };
}

function parseLine(line: string, p: TrainerProcess): void {
  let json: unknown;
  try {
    json = JSON.parse(line);
  } catch {
    return p.onInvalidMetrics(line, "not JSON");
  }
  const parsed = MetricsLineSchema.safeParse(json);
  if (parsed.success) p.onMetrics(parsed.data);
  else p.onInvalidMetrics(line, parsed.error.issues[0]?.message ?? "invalid");
}
