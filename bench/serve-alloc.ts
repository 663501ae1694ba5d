// Benchmark: what one request costs the serving process in JavaScript heap and garbage collection, measured by
// counting rather than timing, so that it holds on a busy machine. One serving process (startServer, as a lone
// worker runs it) on 127.0.0.1 with the bench's cached demo model (bench:serve trains it once) and the prediction
// log at its default rate; this process sends it the bench's multipart PNG requests at a fixed rate from keep-alive
// sockets (bench/paced.ts's generator). Over the measured requests the server reports, from V8's GC profiler:
//   bytes/request     JavaScript heap allocated per request (heap growth between collections, summed);
//   scavenges/1000    young-generation collections per 1,000 requests, their total and longest pause;
//   cpu/request       the serving process's CPU time (user + system) per request;
// and this process the paced p50/p99. `--profile FILE` runs V8's sampling heap profiler instead (garbage included)
// and prints where the bytes are allocated; FILE gets the .heapprofile for DevTools. `--cpu-profile FILE` runs V8's
// CPU profiler over the measured requests instead and prints where the serving process spends its time (self time,
// by file or package and by function); FILE gets the .cpuprofile.
//
//   node bench/serve-alloc.ts [--requests 6000] [--warmup 2000] [--rate 1500] [--connections 64] [--body multipart|png|json]
//        [--profile FILE | --cpu-profile FILE] [--node-flag=--max-semi-space-size=32 …]
import { fork } from "node:child_process";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { cp, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { Session } from "node:inspector/promises";
import { tmpdir } from "node:os";
import { basename, dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { monitorEventLoopDelay } from "node:perf_hooks";
import v8 from "node:v8";
import { loadConfig, type Config } from "../core/config/config.ts";
import { openRuntime } from "../core/config/runtime.ts";
import { SIGHTLINE_BENCH_HOME } from "../core/config/settings/tools.ts";
import { createLogger } from "../core/telemetry/logger.ts";
import { loadServingConfig } from "../serving/config.ts";
import { startServer } from "../serving/server.ts";
import { multipartRequests, percentile } from "./load.ts";
import { firstMessage, installChildCleanup, productionVersion, stopChild, trackChild } from "./serve-kit.ts";

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = resolve(HERE, "..");
const SAMPLE = join(ROOT, "data/sample/test");
const CACHE = SIGHTLINE_BENCH_HOME.read() ?? join(tmpdir(), "sightline-bench-serve-home");

type ToServer = { begin: { profile: boolean; cpu: boolean; minor: boolean; major: boolean } } | { end: true };
type FromServer =
  | { listening: string }
  | { begun: true }
  | {
      measured: {
        allocatedBytes: number;
        scavenges: number;
        scavengeMs: number;
        scavengeMaxMs: number;
        /** Young objects a scavenge kept (copied within the new space or promoted to the old), on average. */
        survivedMb: number;
        majors: number;
        majorMs: number;
        cpuMs: number;
        profile?: HeapProfile;
        cpuProfile?: CpuProfile;
        heapUsedMb: number;
        /** How late the event loop ran its timers (monitorEventLoopDelay, 1 ms resolution): its stalls. */
        loopDelayMs: { p50: number; p99: number; max: number };
        newSpaceMb: number;
      };
    };

interface ProfileNode {
  callFrame: { functionName: string; url: string; lineNumber: number };
  selfSize: number;
  children: ProfileNode[];
}
interface HeapProfile {
  head: ProfileNode;
}

interface CpuProfileNode {
  id: number;
  callFrame: ProfileNode["callFrame"];
  hitCount?: number;
  children?: number[];
}
interface CpuProfile {
  nodes: CpuProfileNode[];
  startTime: number;
  endTime: number;
  samples?: number[];
}

interface GcHeap {
  heapStatistics: { usedHeapSize: number };
  heapSpaceStatistics: { spaceName: string; spaceUsedSize: number }[];
}
interface GcStat {
  gcType: string;
  cost: number;
  beforeGC: GcHeap;
  afterGC: GcHeap;
}

const spaceUsed = (h: GcHeap, name: string): number =>
  h.heapSpaceStatistics.find((s) => s.spaceName === name)?.spaceUsedSize ?? 0;

// ---- the serving process --------------------------------------------------------------------------------------

/** Sightline as a lone worker runs it; or, `bare`, node:http answering a fixed JSON (what any Node server costs). */
async function listen(runtime: Config, bare: boolean): Promise<{ url: string; stop: () => Promise<void> }> {
  if (bare) {
    const answer = JSON.stringify({ request_id: "x", model: { name: "fmnist", version: 1 }, predictions: [] });
    const server = createServer({ keepAliveTimeout: 65_000 }, (req, res) => {
      req.on("data", () => undefined);
      req.on("end", () => {
        res.writeHead(200, { "content-type": "application/json", "content-length": Buffer.byteLength(answer) });
        res.end(answer);
      });
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const { port } = server.address() as AddressInfo;
    return { url: `http://127.0.0.1:${port}`, stop: () => new Promise((r) => server.close(() => r())) };
  }
  const log = createLogger({ component: "serving" }, { level: "ERROR" });
  const rt = await openRuntime(runtime, log);
  const config = loadServingConfig(process.env, { host: "127.0.0.1", port: 0, workers: 1 });
  const server = await startServer(rt, config, log, { defaultMetrics: true });
  while (!server.context.host.current) await new Promise((r) => setTimeout(r, 50));
  return { url: server.url, stop: () => server.shutdown().then(() => rt.close()) };
}

async function serve(runtime: Config, bare: boolean): Promise<void> {
  const server = await listen(runtime, bare);
  let profiler: v8.GCProfiler | undefined;
  let session: Session | undefined;
  let cpu: NodeJS.CpuUsage | undefined;
  let usedAtStart = 0;
  let cpuWanted = false;
  let delay: ReturnType<typeof monitorEventLoopDelay> | undefined;
  process.on("message", (msg: ToServer) => {
    void (async () => {
      if ("begin" in msg) {
        cpuWanted = msg.begin.cpu;
        if (msg.begin.profile) {
          session = new Session();
          session.connect();
          await session.post("HeapProfiler.startSampling", {
            samplingInterval: 1024,
            includeObjectsCollectedByMajorGC: msg.begin.major,
            includeObjectsCollectedByMinorGC: msg.begin.minor,
          });
        }
        if (msg.begin.cpu) {
          session = new Session();
          session.connect();
          await session.post("Profiler.enable");
          await session.post("Profiler.setSamplingInterval", { interval: 100 });
          await session.post("Profiler.start");
        }
        profiler = new v8.GCProfiler();
        profiler.start();
        delay = monitorEventLoopDelay({ resolution: 1 });
        delay.enable();
        usedAtStart = v8.getHeapStatistics().used_heap_size;
        cpu = process.cpuUsage();
        process.send?.({ begun: true } satisfies FromServer);
      } else {
        const used = process.cpuUsage(cpu);
        delay?.disable();
        const usedAtEnd = v8.getHeapStatistics().used_heap_size;
        const stats = (profiler?.stop()?.statistics ?? []) as GcStat[];
        const profile =
          session && !cpuWanted
            ? ((await session.post("HeapProfiler.stopSampling")) as unknown as { profile: HeapProfile }).profile
            : undefined;
        const cpuProfile =
          session && cpuWanted
            ? ((await session.post("Profiler.stop")) as unknown as { profile: CpuProfile }).profile
            : undefined;
        // Allocated = what the heap grew by between collections: from the start to the first, from each one's end
        // to the next one's start, and from the last one to the end.
        let allocated = 0;
        let after = usedAtStart;
        const scavenges = stats.filter((s) => s.gcType === "Scavenge" || s.gcType === "MinorMarkSweep");
        const majors = stats.filter((s) => s.gcType === "MarkSweepCompact");
        for (const s of stats) {
          allocated += Math.max(0, s.beforeGC.heapStatistics.usedHeapSize - after);
          after = s.afterGC.heapStatistics.usedHeapSize;
        }
        allocated += Math.max(0, usedAtEnd - after);
        const space = v8.getHeapSpaceStatistics().find((s) => s.space_name === "new_space");
        process.send?.({
          measured: {
            allocatedBytes: allocated,
            scavenges: scavenges.length,
            scavengeMs: scavenges.reduce((a, s) => a + s.cost, 0) / 1000,
            scavengeMaxMs: scavenges.reduce((a, s) => Math.max(a, s.cost), 0) / 1000,
            survivedMb:
              scavenges.reduce(
                (a, s) =>
                  a +
                  spaceUsed(s.afterGC, "new_space") +
                  Math.max(0, spaceUsed(s.afterGC, "old_space") - spaceUsed(s.beforeGC, "old_space")),
                0,
              ) /
              Math.max(1, scavenges.length) /
              2 ** 20,
            majors: majors.length,
            majorMs: majors.reduce((a, s) => a + s.cost, 0) / 1000,
            cpuMs: (used.user + used.system) / 1000,
            heapUsedMb: usedAtEnd / 2 ** 20,
            loopDelayMs: {
              p50: (delay?.percentile(50) ?? 0) / 1e6,
              p99: (delay?.percentile(99) ?? 0) / 1e6,
              max: (delay?.max ?? 0) / 1e6,
            },
            newSpaceMb: (space?.space_size ?? 0) / 2 ** 20,
            ...(profile ? { profile } : {}),
            ...(cpuProfile ? { cpuProfile } : {}),
          },
        } satisfies FromServer);
      }
    })();
  });
  process.send?.({ listening: server.url } satisfies FromServer);
  process.once("SIGTERM", () => void server.stop().then(() => process.exit(0)));
}

// ---- the driver -----------------------------------------------------------------------------------------------

const where = (f: ProfileNode["callFrame"]): string =>
  `${f.functionName || "(anonymous)"} ${f.url.replace(/^.*\/(node_modules|wt-[^/]+|main)\//, "")}:${f.lineNumber + 1}`;
const owner = (url: string): string | undefined => {
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url)?.[1];
  if (pkg) return pkg;
  const own = /\/((?:serving|core|bench)\/.*)$/.exec(url)?.[1];
  if (own) return own;
  return url.startsWith("node:") ? url : undefined;
};

/** Sums a CPU profile's self time by function and by the innermost frame in our own code or a package. */
function summariseCpu(profile: CpuProfile, requests: number): string[] {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const hits = profile.samples?.length ?? 0;
  const msPerHit = hits > 0 ? (profile.endTime - profile.startTime) / 1000 / hits : 0;
  const bySite = new Map<string, number>();
  const byOwner = new Map<string, number>();
  for (const n of profile.nodes) {
    const h = n.hitCount ?? 0;
    if (h === 0) continue;
    const site = n.callFrame.url ? where(n.callFrame) : n.callFrame.functionName || "(native)";
    bySite.set(site, (bySite.get(site) ?? 0) + h);
    // Charged to the innermost frame that is ours or a package's: node internals and natives go to their caller.
    let charged = "(idle, GC or native)";
    for (let id: number | undefined = n.id; id !== undefined; id = parent.get(id)) {
      const o = owner(byId.get(id)?.callFrame.url ?? "");
      if (o && !o.startsWith("node:")) {
        charged = o;
        break;
      }
      if (o && charged.startsWith("(")) charged = o;
    }
    if (["(idle)", "(program)", "(garbage collector)"].includes(n.callFrame.functionName))
      charged = n.callFrame.functionName;
    byOwner.set(charged, (byOwner.get(charged) ?? 0) + h);
  }
  const idle = bySite.get("(idle)") ?? 0;
  const busy = hits - idle;
  const ms = (n: number): string => `${((n * msPerHit) / requests).toFixed(4)} ms/req`;
  const top = (m: Map<string, number>, n: number): string[] =>
    [...m.entries()]
      .filter(([k]) => k !== "(idle)")
      .sort((a, b) => b[1] - a[1])
      .slice(0, n)
      .map(([k, v]) => `  ${((100 * v) / Math.max(1, busy)).toFixed(1).padStart(5)} %  ${ms(v).padStart(15)}  ${k}`);
  return [
    `cpu profile  ${ms(busy)} busy on the main thread (${hits} samples, ${((100 * idle) / Math.max(1, hits)).toFixed(0)} % idle)`,
    "by file or package (innermost on the stack):",
    ...top(byOwner, 25),
    "by function (self time):",
    ...top(bySite, 40),
  ];
}

/** Sums a heap profile's self sizes by allocation site and by the nearest frame in our own code or a package. */
function summarise(profile: HeapProfile, requests: number, what: string): string[] {
  const bySite = new Map<string, number>();
  const byOwner = new Map<string, number>();
  let total = 0;
  const walk = (node: ProfileNode, stack: string[]): void => {
    const site = where(node.callFrame);
    const o = owner(node.callFrame.url);
    const owners = o ? [...stack, o] : stack;
    if (node.selfSize > 0) {
      total += node.selfSize;
      bySite.set(site, (bySite.get(site) ?? 0) + node.selfSize);
      // Innermost package or file of ours on the stack: node internals are charged to whoever called them.
      const charged = owners.findLast((x) => !x.startsWith("node:")) ?? owners.at(-1) ?? "(native)";
      byOwner.set(charged, (byOwner.get(charged) ?? 0) + node.selfSize);
    }
    for (const child of node.children) walk(child, owners);
  };
  walk(profile.head, []);
  const kb = (n: number): string => `${(n / requests / 1024).toFixed(2)} KB/req`;
  const top = (m: Map<string, number>, n: number): string[] =>
    [...m.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, n)
      .map(([k, v]) => `  ${((100 * v) / total).toFixed(1).padStart(5)} %  ${kb(v).padStart(13)}  ${k}`);
  return [
    `profile      ${kb(total)} sampled (${what})`,
    "by file or package (innermost on the stack):",
    ...top(byOwner, 25),
    "by allocation site:",
    ...top(bySite, 40),
  ];
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      requests: { type: "string", default: "6000" },
      warmup: { type: "string", default: "2000" },
      rate: { type: "string", default: "1500" },
      // 1: requests one after another, so no batching or queueing varies what each allocates (the steadiest count).
      connections: { type: "string", default: "64" },
      body: { type: "string", default: "multipart" },
      profile: { type: "string" },
      "cpu-profile": { type: "string" },
      // With --profile: only what is still in the heap at the end (survivors, and garbage no collection reached yet).
      live: { type: "boolean", default: false },
      // With --profile: what outlived the scavenges (still there, or collected only by a full GC): the survivors.
      survivors: { type: "boolean", default: false },
      // node:http and nothing else in the serving process: the allocation and GC any Node server has.
      bare: { type: "boolean", default: false },
      "node-flag": { type: "string", multiple: true, default: [] },
    },
  });
  const requests = Number(values.requests);
  const warmup = Number(values.warmup);
  const rate = Number(values.rate);
  const connections = Number(values.connections);
  if (![requests, warmup, rate, connections].every((n) => Number.isFinite(n) && n > 0))
    throw new Error("--requests, --warmup, --rate and --connections must be positive numbers");
  // Not imported at the top: paced.ts answers its parent's first message when it runs in a forked child, as the
  // serving process here does.
  const { runPacedLoad } = await import("./paced.ts");
  const log = createLogger({ component: "bench" }, { level: "WARNING" });
  if ((await productionVersion(CACHE, "fmnist", log)) === undefined)
    throw new Error(`no fmnist@production in ${CACHE}: run \`npm run bench:serve -- --model fmnist\` once first`);
  const home = await mkdtemp(join(tmpdir(), "sightline-bench-alloc-"));
  installChildCleanup();
  try {
    await cp(CACHE, home, { recursive: true });
    const images: { path: string; bytes: Uint8Array }[] = [];
    for (const label of (await readdir(SAMPLE)).sort()) {
      for (const f of (await readdir(join(SAMPLE, label))).sort().slice(0, 6))
        images.push({ path: join(SAMPLE, label, f), bytes: new Uint8Array(await readFile(join(SAMPLE, label, f))) });
    }
    const bodies =
      values.body === "png"
        ? images.map((i) => ({ headers: { "content-type": "image/png" }, body: i.bytes }))
        : values.body === "json"
          ? images.map((i) => ({
              headers: { "content-type": "application/json" },
              body: Buffer.from(JSON.stringify({ instances: [{ b64: Buffer.from(i.bytes).toString("base64") }] })),
            }))
          : multipartRequests(images).map((r) => ({ headers: r.headers, body: r.body }));

    const child = trackChild(
      fork(fileURLToPath(import.meta.url), ["--serve", ...(values.bare ? ["--bare"] : [])], {
        execArgv: [...process.execArgv, ...values["node-flag"]],
        env: { ...process.env, SIGHTLINE_HOME: home, SIGHTLINE_LOG_LEVEL: "ERROR" },
        serialization: "advanced",
        stdio: "inherit",
      }),
    );
    const next = (): Promise<FromServer> => firstMessage<FromServer>(child, "the serving process", "its reply");
    const ready = await next();
    if (!("listening" in ready)) throw new Error("the serving process did not listen");
    const load = (n: number) =>
      runPacedLoad({
        url: ready.listening,
        path: "/predict",
        requests: bodies,
        rate,
        seconds: n / rate,
        maxConnections: connections,
      });
    await load(warmup);
    const begun = next();
    child.send({
      begin: {
        profile: values.profile !== undefined,
        cpu: values["cpu-profile"] !== undefined,
        minor: !values.live && !values.survivors,
        major: !values.live,
      },
    } satisfies ToServer);
    await begun;
    const run = await load(requests);
    const ended = next();
    child.send({ end: true } satisfies ToServer);
    const reply = await ended;
    await stopChild(child);
    if (!("measured" in reply)) throw new Error("the serving process did not measure");
    const m = reply.measured;
    const ok = run.latencies.length;
    const failed = requests - ok;
    console.log(
      `load         ${values.bare ? "bare node:http: " : ""}${requests} ${values.body} requests at ${rate} req/s over at most ${connections} connections after ${warmup} warm-up; node flags ${values["node-flag"].join(" ") || "(none)"}; non-2xx or failed ${failed}`,
    );
    if (m.cpuProfile) {
      const file = resolve(values["cpu-profile"]!);
      await writeFile(file, JSON.stringify(m.cpuProfile));
      for (const line of summariseCpu(m.cpuProfile, requests)) console.log(line);
      console.log(`cpu profile  ${basename(file)} written (open in DevTools, Performance tab)`);
      return;
    }
    if (m.profile) {
      const file = resolve(values.profile!);
      await writeFile(file, JSON.stringify(m.profile));
      for (const line of summarise(
        m.profile,
        requests,
        values.live ? "still in the heap at the end" : values.survivors ? "outlived the scavenges" : "garbage included",
      ))
        console.log(line);
      console.log(`heap profile ${basename(file)} written (open in DevTools, Memory tab)`);
      return;
    }
    const perK = (n: number): string => ((n * 1000) / requests).toFixed(1);
    console.log(`allocated    ${(m.allocatedBytes / requests / 1024).toFixed(1)} KB of JS heap per request`);
    console.log(
      `scavenges    ${perK(m.scavenges)} per 1000 requests (${m.scavenges} in all, ${m.scavengeMs.toFixed(0)} ms, longest ${m.scavengeMaxMs.toFixed(1)} ms, ${m.survivedMb.toFixed(2)} MB surviving each); new space ${m.newSpaceMb.toFixed(1)} MB; full GCs ${m.majors} (${m.majorMs.toFixed(0)} ms); heap used ${m.heapUsedMb.toFixed(1)} MB`,
    );
    console.log(`cpu          ${(m.cpuMs / requests).toFixed(3)} ms per request in the serving process`);
    console.log(
      `event loop   delay p50 ${m.loopDelayMs.p50.toFixed(1)} ms, p99 ${m.loopDelayMs.p99.toFixed(1)} ms, max ${m.loopDelayMs.max.toFixed(1)} ms`,
    );
    console.log(
      `latency      p50 ${percentile(run.latencies, 0.5).toFixed(2)} ms, p99 ${percentile(run.latencies, 0.99).toFixed(2)} ms (p99/p50 ${(percentile(run.latencies, 0.99) / percentile(run.latencies, 0.5)).toFixed(1)}; noisy on a shared machine)`,
    );
    console.log(
      JSON.stringify({
        bench: "serve-alloc",
        body: values.body,
        requests,
        rate,
        node_flags: values["node-flag"],
        kb_per_request: +(m.allocatedBytes / requests / 1024).toFixed(2),
        scavenges_per_1000: +perK(m.scavenges),
        scavenge_ms: +m.scavengeMs.toFixed(1),
        scavenge_max_ms: +m.scavengeMaxMs.toFixed(2),
        survived_mb: +m.survivedMb.toFixed(2),
        cpu_ms_per_request: +(m.cpuMs / requests).toFixed(4),
        loop_delay_ms: { p99: +m.loopDelayMs.p99.toFixed(2), max: +m.loopDelayMs.max.toFixed(2) },
        p50_ms: +percentile(run.latencies, 0.5).toFixed(2),
        p99_ms: +percentile(run.latencies, 0.99).toFixed(2),
        failed,
      }),
    );
  } finally {
    await rm(home, { recursive: true, force: true });
  }
}

if (process.argv.includes("--serve")) {
  await serve(loadConfig(), process.argv.includes("--bare"));
} else {
  await main();
}
