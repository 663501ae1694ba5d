// What bench/serve.ts's model benches share: the children they start (never outliving the bench), closed-loop
// load with CPU meters, the raw in-process pipeline on one process per core, and small process helpers.
import { spawnSync, fork, type ChildProcess } from "node:child_process";
import cluster from "node:cluster";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { createServer } from "node:net";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { loadConfig } from "../core/config/config.ts";
import { openRuntime } from "../core/config/runtime.ts";
import { getAlias, PRODUCTION } from "../core/registry/aliases.ts";
import type { Logger } from "../core/telemetry/logger.ts";
import { runLoad, type AutocannonRequest, type LoadResult } from "./load.ts";
import type { RawCommand, RawReply, RawSetup } from "./serve-raw.ts";

/** How long and how hard every closed-loop run and the raw pipeline go. */
export interface Timing {
  seconds: number;
  warmup: number;
  connections: number;
  cores: number;
}

const HERE = dirname(fileURLToPath(import.meta.url));
// /proc reports CPU time in clock ticks.
const CLK_TCK = Number(spawnSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).stdout?.trim()) || 100;

// Children (raw pipeline processes, peers, serving workers) never outlive this process; nor do the process groups
// of children started `detached` (a peer's supervisor and its worker processes).
const children = new Set<ChildProcess>();
const groups = new Set<number>();

export function trackChild<T extends ChildProcess>(child: T): T {
  children.add(child);
  return child;
}

/** Tracks a child spawned with `detached: true`, which leads a process group of its own, as that whole group. */
export function trackGroup<T extends ChildProcess>(child: T): T {
  if (child.pid !== undefined) groups.add(child.pid);
  return trackChild(child);
}

const signalGroup = (pgid: number, signal: NodeJS.Signals | 0): boolean => {
  try {
    process.kill(-pgid, signal);
    return true;
  } catch {
    return false; // the group is gone
  }
};

/** Kills whatever is still running when the bench exits, however it exits. */
export function installChildCleanup(): void {
  process.on("exit", () => {
    for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    for (const pgid of groups) signalGroup(pgid, "SIGKILL");
    for (const worker of Object.values(cluster.workers ?? {}))
      if (worker && !worker.isDead()) worker.process.kill("SIGTERM");
  });
  process.once("SIGINT", () => process.exit(130));
  process.once("SIGTERM", () => process.exit(143));
}

export const fmt = (n: number, digits = 0): string => (Number.isFinite(n) ? n.toFixed(digits) : "n/a");
export const verdict = (ok: boolean): string => (ok ? "met" : "MISSED");
export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export function describe(r: LoadResult): string {
  const other = Object.entries(r.statusCodes).filter(([code]) => !code.startsWith("2"));
  return `${fmt(r.rps)} req/s, p50 ${fmt(r.p50, 1)} ms, p99 ${fmt(r.p99, 1)} ms, non-2xx ${r.non2xx}${other.length ? ` (${other.map(([c, n]) => `${c}×${n}`).join(", ")})` : ""}, errors ${r.errors}`;
}

/** The first message a child sends; rejects if it exits before (`what`: what it should have sent). */
export function firstMessage<T>(child: ChildProcess, name: string, what: string): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    child.once("message", (m) => resolve(m as T));
    child.once("exit", (code) => reject(new Error(`${name} exited (${code}) before ${what}`)));
  });
}

/**
 * Total images/s of the raw pipeline with one child process per core, all measuring over the same window, and the
 * CPU time each image took (user + system, independent of what else runs on the machine).
 */
export async function runRaw(
  setup: RawSetup,
  timing: Timing,
): Promise<{ rate: number; cpuMs: number; otherCores: number }> {
  const procs = Array.from({ length: timing.cores }, () =>
    trackChild(fork(join(HERE, "serve-raw.ts"), [], { execArgv: process.execArgv, stdio: "inherit" })),
  );
  const reply = (child: ChildProcess, what: "ready" | "done"): Promise<RawReply> =>
    new Promise((resolve, reject) => {
      const onMessage = (msg: RawReply): void => {
        if ("failed" in msg) reject(new Error(`raw pipeline: ${msg.failed}`));
        else if (what in msg) resolve(msg);
        else return;
        child.off("message", onMessage);
        child.off("exit", onExit);
      };
      const onExit = (code: number | null): void =>
        reject(new Error(`raw pipeline process exited (${code}) before it was ${what}`));
      child.on("message", onMessage);
      child.once("exit", onExit);
    });
  try {
    const ready = procs.map((c) => reply(c, "ready"));
    for (const c of procs) c.send({ setup } satisfies RawCommand);
    await Promise.all(ready);
    const done = procs.map((c) => reply(c, "done"));
    const machine = machineMeter();
    const started = performance.now();
    for (const c of procs)
      c.send({ go: { warmupMs: timing.warmup * 1000, durationMs: timing.seconds * 1000 } } satisfies RawCommand);
    const results = (await Promise.all(done)).flatMap((r) => ("done" in r ? [r.done] : []));
    const [machineSeconds, seconds] = [machine(), (performance.now() - started) / 1000];
    const total = (f: (r: (typeof results)[number]) => number): number => results.reduce((sum, r) => sum + f(r), 0);
    return {
      rate: total((r) => r.images / r.seconds),
      cpuMs: (total((r) => r.cpuSeconds) * 1000) / total((r) => r.images),
      otherCores: Math.max(0, (machineSeconds - total((r) => r.allCpuSeconds)) / seconds),
    };
  } finally {
    await Promise.all(procs.map((c) => stopChild(c)));
  }
}

/** CPU seconds (user + system) of processes since the meter started, from /proc (NaN where there is none). */
export function cpuMeter(pids: number[]): () => number {
  const seconds = (pid: number): number => {
    if (pid === process.pid) {
      const u = process.cpuUsage();
      return (u.user + u.system) / 1e6;
    }
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      return (Number(fields[11]) + Number(fields[12])) / CLK_TCK;
    } catch {
      return Number.NaN;
    }
  };
  const total = (): number => pids.reduce((sum, pid) => sum + seconds(pid), 0);
  const start = total();
  return () => total() - start;
}

/** Busy CPU seconds of the whole machine since the meter started, from /proc/stat (NaN where there is none). */
export function machineMeter(): () => number {
  const busy = (): number => {
    try {
      const [, ...ticks] = readFileSync("/proc/stat", "utf8").split("\n")[0]!.trim().split(/\s+/);
      const [user = 0, nice = 0, system = 0, , , irq = 0, softirq = 0, steal = 0] = ticks.map(Number);
      return (user + nice + system + irq + softirq + steal) / CLK_TCK;
    } catch {
      return Number.NaN;
    }
  };
  const start = busy();
  return () => busy() - start;
}

export type Measured = LoadResult & { serverCpuMs: number; loadCpuMs: number; otherCores: number };

/**
 * Warm-up, then the measured closed-loop run, with the CPU time per request of the server's processes and of the
 * load generator (this process), and how many cores everything else on the machine kept busy meanwhile.
 */
export async function measure(
  url: string,
  requests: AutocannonRequest[],
  serverPids: number[],
  timing: Timing,
): Promise<Measured> {
  if (timing.warmup > 0) await runLoad({ url, requests, connections: timing.connections, seconds: timing.warmup });
  const server = cpuMeter(serverPids);
  const load = cpuMeter([process.pid]);
  const machine = machineMeter();
  const result = await runLoad({ url, requests, connections: timing.connections, seconds: timing.seconds });
  const [serverSeconds, loadSeconds, machineSeconds] = [server(), load(), machine()];
  return {
    ...result,
    serverCpuMs: (serverSeconds * 1000) / result.completed,
    loadCpuMs: (loadSeconds * 1000) / result.completed,
    otherCores: Math.max(0, (machineSeconds - serverSeconds - loadSeconds) / result.seconds),
  };
}

/** PIDs of the serving cluster's worker processes (the primary only routes). */
export function workerPids(): number[] {
  return Object.values(cluster.workers ?? {}).flatMap((w) => (w?.process.pid ? [w.process.pid] : []));
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

export async function waitHealthy(url: string, child: ChildProcess, timeoutMs: number): Promise<boolean> {
  const deadline = performance.now() + timeoutMs;
  while (performance.now() < deadline && child.exitCode === null && child.signalCode === null) {
    try {
      if ((await fetch(url)).ok) return true;
    } catch {
      // not listening yet
    }
    await sleep(200);
  }
  return false;
}

/**
 * Stops a group tracked by trackGroup: SIGTERM to all of it, then SIGKILL to whatever is left of it 5 s after,
 * or once its leader has exited (a supervisor killed first would orphan its workers).
 */
export async function stopGroup(child: ChildProcess): Promise<void> {
  const pgid = child.pid;
  if (pgid === undefined || !groups.has(pgid)) return stopChild(child);
  if (child.exitCode === null && child.signalCode === null) {
    const exited = new Promise<void>((r) => child.once("exit", () => r()));
    signalGroup(pgid, "SIGTERM");
    await Promise.race([exited, sleep(5_000)]);
  }
  // Members that outlived the leader (or a leader that ignored SIGTERM) go now; then wait until none is left.
  signalGroup(pgid, "SIGKILL");
  for (let i = 0; i < 50 && signalGroup(pgid, 0); i++) await sleep(100);
  groups.delete(pgid);
  children.delete(child);
}

/** The PIDs of a process and of all its descendants, from /proc (the processes a supervisor runs the work in). */
export function processTree(pid: number): number[] {
  const tree = [pid];
  for (let i = 0; i < tree.length; i++) {
    const parent = tree[i]!;
    try {
      for (const task of readdirSync(`/proc/${parent}/task`)) {
        const kids = readFileSync(`/proc/${parent}/task/${task}/children`, "utf8").trim();
        if (kids) tree.push(...kids.split(/\s+/).map(Number));
      }
    } catch {
      // exited meanwhile, or no /proc
    }
  }
  return tree;
}

/** SIGTERM, then SIGKILL after 5 s; resolves once the child is gone. */
export async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode === null && child.signalCode === null) {
    const exited = new Promise<void>((r) => child.once("exit", () => r()));
    child.kill("SIGTERM");
    const timer = setTimeout(() => child.kill("SIGKILL"), 5_000);
    await exited;
    clearTimeout(timer);
  }
  children.delete(child);
}

/** Debian's Python, where the peers' packages (python3-torch, python3-fastapi, …) are installed. */
export const PYTHON = "/usr/bin/python3";

/**
 * Why a Python peer cannot run here, or undefined when it can: `--no-peer`, its script missing, or one of its
 * modules not importable (the message names the Debian packages that provide them).
 */
export function peerSkipReason(
  noPeer: boolean,
  script: string,
  modules: string[],
  debianPackages: string[],
): string | undefined {
  if (noPeer) return "--no-peer";
  if (!existsSync(script)) return `${script} not found`;
  const deps = spawnSync(PYTHON, ["-c", `import ${modules.join(", ")}`], { encoding: "utf8" });
  if (deps.status === 0) return undefined;
  return `its Python packages are missing (${deps.stderr.trim().split("\n").at(-1) ?? "import failed"}): apt-get install ${debianPackages.join(" ")}`;
}

/** The version `model@production` names in a cached bench home, or undefined when the home has none yet. */
export async function productionVersion(home: string, model: string, log: Logger): Promise<number | undefined> {
  if (!existsSync(join(home, "meta.db"))) return undefined;
  const rt = await openRuntime(loadConfig({ SIGHTLINE_HOME: home }, home), log);
  try {
    return (await getAlias(rt.meta, model, PRODUCTION))?.version;
  } finally {
    await rt.close();
  }
}
