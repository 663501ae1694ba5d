// Benchmark: the inference API under load (issue #4). A real model (the demo's fmnist@production, trained once into
// a cached home) served by `runServing` on 127.0.0.1 with one worker per core and the prediction log at its
// default rate, driven by autocannon in this process (8 connections, POST /predict, multipart with one `file` part,
// rotating over distinct real Fashion-MNIST test PNGs). Compared in the same run with
//   (a) the raw in-process pipeline: decode + preprocess + ONNX Runtime, batch 1, one process per core, and
//   (b) the FastAPI + PyTorch peer (../shared/peers/fastapi_serve.py) under the same load, when its Debian
//       packages are installed, and
//   (c) the HTTP floor: node:http answering a fixed JSON (bench/bare-server.ts), which bounds the ratio to (a) that
//       any Node server could reach on this machine;
// then the latency check at 70 % of the peak req/s: an evenly paced open-loop run from its own process
// (bench/paced.ts), against Sightline and against a control — node:http burning Sightline's CPU per request and
// nothing else. The p99 ≤ 3× p50 target is judged only when the control meets it: otherwise the tail belongs to
// the machine (two shared cores, the load generator among them), not the server. Ends with one JSON summary line.
//
//   node bench/serve.ts --model fmnist [--seconds 10] [--warmup 2] [--connections 8] [--images 60] [--no-peer]
import { spawn, spawnSync, fork, type ChildProcess } from "node:child_process";
import { cp, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { loadConfig } from "../core/config/config.ts";
import { openRuntime } from "../core/config/runtime.ts";
import { parseModelCard } from "../core/registry/model-card.ts";
import { getVersion } from "../core/registry/model-version.ts";
import type { Logger } from "../core/telemetry/logger.ts";
import { loadServingConfig } from "../serving/config.ts";
import { startCluster } from "../serving/cluster.ts";
import { runServing, type Serving } from "../serving/run.ts";
import type { BareCommand, BareReply } from "./bare-server.ts";
import { multipartRequests, percentile, type AutocannonRequest, type LoadResult } from "./load.ts";
import type { PacedCommand, PacedReply } from "./paced.ts";
import {
  describe,
  firstMessage,
  fmt,
  freePort,
  measure,
  peerSkipReason,
  productionVersion,
  PYTHON,
  runRaw,
  stopChild,
  trackChild,
  verdict,
  waitHealthy,
  workerPids,
  type Measured,
  type Timing,
} from "./serve-kit.ts";
import { SIGHTLINE_BENCH_HOME } from "../core/config/settings/tools.ts";

const MODEL = "fmnist";
const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = resolve(HERE, "..");
const SAMPLE = join(ROOT, "data/sample/test");
const PEER = resolve(ROOT, "../shared/peers/fastapi_serve.py");
// The trained demo model is kept between runs; each run serves a copy (the prediction log writes into the home).
const CACHE = SIGHTLINE_BENCH_HOME.read() ?? join(tmpdir(), "sightline-bench-serve-home");
const TARGET = { peer: 3, raw: 0.8, tail: 3, cpuOverRaw: 2, tailOverControl: 1.3 };

export interface FmnistOptions extends Timing {
  images: number;
  noPeer: boolean;
}

/** The fmnist bench: raw pipeline, HTTP floor, Sightline peak and paced tail, the control, the peer; one JSON line. */
export async function benchFmnist(options: FmnistOptions, log: Logger): Promise<void> {
  const { seconds: SECONDS, warmup: WARMUP, connections: CONNECTIONS, cores: CORES, images: IMAGES } = options;
  const timing: Timing = options;
  // ---- the model: the demo's fmnist@production in a cached home ------------------------------------------------
  let cachedVersion = await productionVersion(CACHE, MODEL, log);
  if (cachedVersion === undefined) {
    console.log(`model        training the demo model into ${CACHE} (once; later runs reuse it) …`);
    const started = performance.now();
    const demo = spawnSync(process.execPath, [...process.execArgv, join(ROOT, "cli/sightline.ts"), "demo"], {
      cwd: ROOT,
      env: { ...process.env, SIGHTLINE_HOME: CACHE },
      encoding: "utf8",
    });
    cachedVersion = await productionVersion(CACHE, MODEL, log);
    if (demo.status !== 0 || cachedVersion === undefined) {
      console.error(demo.stdout, demo.stderr);
      console.error(`the demo did not register ${MODEL}@production in ${CACHE}`);
      process.exit(1);
    }
    console.log(
      `model        ${MODEL}:${cachedVersion} trained and promoted by the demo in ${((performance.now() - started) / 1000).toFixed(0)} s`,
    );
  } else {
    console.log(
      `model        ${MODEL}:${cachedVersion} (${MODEL}@production) reused from the cached home ${CACHE} (delete it to retrain)`,
    );
  }

  const home = await mkdtemp(join(tmpdir(), "sightline-bench-serve-"));
  let serving: Serving | undefined;
  let peer: ChildProcess | undefined;
  try {
    await cp(CACHE, home, { recursive: true });
    const runtime = loadConfig({ SIGHTLINE_HOME: home }, home);
    const rt = await openRuntime(runtime, log);
    const modelFile = join(home, "bench-model.onnx");
    const card = await (async () => {
      try {
        const record = await getVersion(rt.meta, MODEL, cachedVersion);
        await writeFile(modelFile, await rt.blobs.get(record.modelDigest));
        return parseModelCard(await rt.blobs.get(record.cardDigest), `${MODEL}:${record.version}`);
      } finally {
        await rt.close();
      }
    })();
    const spec = card.preprocessing;

    // ---- the images: distinct real Fashion-MNIST test PNGs, the same number from every class ---------------------
    const classes = (await readdir(SAMPLE, { withFileTypes: true }))
      .filter((d) => d.isDirectory())
      .map((d) => d.name)
      .sort();
    const perClass = Math.max(1, Math.ceil(IMAGES / classes.length));
    const picked: { path: string; label: string }[] = [];
    for (const label of classes) {
      const files = (await readdir(join(SAMPLE, label)))
        .filter((f) => f.endsWith(".png"))
        .sort()
        .slice(0, perClass);
      picked.push(...files.map((f) => ({ path: join(SAMPLE, label, f), label })));
    }
    const images = await Promise.all(
      picked.slice(0, IMAGES).map(async (p) => ({ ...p, bytes: new Uint8Array(await readFile(p.path)) })),
    );
    const requests = multipartRequests(images);
    console.log(
      `images       ${images.length} distinct Fashion-MNIST test PNGs (${spec.width}×${spec.height}, ${classes.length} classes) from data/sample/test, one multipart \`file\` part per request`,
    );
    console.log(
      `machine      ${CORES} cores shared by the load generator, the server and the baselines; load ${CONNECTIONS} connections, ${WARMUP} s warm-up + ${SECONDS} s`,
    );

    // ---- (a) the raw in-process pipeline, one process per core ----------------------------------------------------
    const {
      rate: raw,
      cpuMs: rawCpuMs,
      otherCores: rawOthers,
    } = await runRaw(
      {
        model: modelFile,
        spec,
        input: card.onnx.input,
        outputs: [card.onnx.outputs.scores, card.onnx.outputs.embedding!],
        images: images.map((i) => i.path),
      },
      timing,
    );
    console.log(
      `raw          ${fmt(raw)} img/s  decode + preprocess + ONNX Runtime, batch 1, ${CORES} processes × ${SECONDS} s (no HTTP); ${fmt(rawCpuMs, 2)} ms CPU per image; other processes kept ${fmt(rawOthers, 2)} cores busy`,
    );

    // ---- the HTTP floor: node:http and nothing else, on as many processes as Sightline has workers -------------------
    const servingConfig = loadServingConfig(process.env, { host: "127.0.0.1", port: 0 });
    const floor = await withBare(0, servingConfig.workers, (url, pids) => measure(url, requests, pids, timing));
    // Each request needs the HTTP work (1 / floor machine-seconds, load generator included) plus the pipeline's
    // (1 / raw): no server in Node can beat their harmonic sum here.
    const bound = 1 / (1 / floor.rps + 1 / raw) / raw;
    console.log(
      `http floor   ${describe(floor)}: node:http answering a fixed JSON, ${servingConfig.workers} processes, ${fmt(floor.serverCpuMs, 2)} ms CPU per request`,
    );
    console.log(
      `  bound      HTTP + the raw pipeline could reach at most ${fmt(bound, 2)}× the raw pipeline's rate on this machine`,
    );

    // ---- Sightline ------------------------------------------------------------------------------------------------
    // SIGHTLINE_SERVE_WORKERS, SIGHTLINE_BATCH_* etc. apply as in production; the defaults are one worker per core.
    serving = await runServing(runtime, servingConfig, log);
    const correct = await accuracy(serving.url, images);
    console.log(
      `sightline    ${serving.url}, ${serving.workers} workers, prediction log rate ${servingConfig.predictionLog.sampleRate}, batching ≤ ${servingConfig.batch.maxSize} / ${servingConfig.batch.maxDelayMs} ms; ${correct}/${images.length} of the images classified correctly`,
    );
    const workers = workerPids();
    const sightline = await measure(serving.url, requests, workers, timing);
    console.log(`  peak       ${describe(sightline)}`);
    console.log(
      `  cpu        ${fmt(sightline.serverCpuMs, 2)} ms CPU per request in the ${workers.length} workers (the raw pipeline's ${fmt(rawCpuMs, 2)} ms per image is ${fmt(rawCpuMs / sightline.serverCpuMs, 2)}× that); load generator ${fmt(sightline.loadCpuMs, 2)} ms; other processes kept ${fmt(sightline.otherCores, 2)} cores busy`,
    );

    const rate = Math.max(1, Math.round(0.7 * sightline.rps));
    const steady = await paced(serving.url, requests, rate, timing);
    console.log(`  70 %       ${describePaced(steady, rate)}`);
    await serving.stop();
    serving = undefined;

    // ---- the control: node:http burning Sightline's CPU per request, nothing else, under the same paced load --------
    const spinMs = Math.max(0, sightline.serverCpuMs - floor.serverCpuMs);
    const control = await withBare(spinMs, servingConfig.workers, (url) => paced(url, requests, rate, timing));
    console.log(`control      node:http + ${fmt(spinMs, 2)} ms of CPU per request: ${describePaced(control, rate)}`);

    // ---- like for like: a core left to the load generator -----------------------------------------------------------
    // The raw pipeline runs one process per core with nothing beside it. Sightline with one worker per core shares
    // those cores with the load generator, and the contention (preemption, cold caches) inflates its CPU per request
    // and its tail. With one worker fewer than cores, server and generator occupy the cores as the raw run does.
    const fewer = Math.max(1, CORES - 1);
    // Always in worker processes (runServing keeps a lone worker in this process, beside the load generator).
    const cluster = await startCluster({ runtime, serving: { ...servingConfig, workers: fewer } }, log);
    serving = { url: cluster.url, internalUrl: cluster.internalUrl, workers: cluster.workers, stop: cluster.shutdown };
    const lean = await measure(serving.url, requests, workerPids(), timing);
    const leanRate = Math.max(1, Math.round(0.7 * lean.rps));
    const leanSteady = await paced(serving.url, requests, leanRate, timing);
    await serving.stop();
    serving = undefined;
    const leanSpinMs = Math.max(0, lean.serverCpuMs - floor.serverCpuMs);
    const leanControl = await withBare(leanSpinMs, fewer, (url) => paced(url, requests, leanRate, timing));
    console.log(`sightline    ${fewer} worker(s), a core left to the load generator: ${describe(lean)}`);
    console.log(
      `  cpu        ${fmt(lean.serverCpuMs, 2)} ms CPU per request in the workers; other processes kept ${fmt(lean.otherCores, 2)} cores busy`,
    );
    console.log(`  70 %       ${describePaced(leanSteady, leanRate)}`);
    console.log(
      `control      ${fewer} process(es), node:http + ${fmt(leanSpinMs, 2)} ms of CPU per request: ${describePaced(leanControl, leanRate)}`,
    );

    // ---- (b) the FastAPI + PyTorch peer under the same load -------------------------------------------------------
    let peerResult: Measured | undefined;
    let peerSkipped = peerSkipReason(
      options.noPeer,
      PEER,
      ["fastapi", "uvicorn", "multipart", "torch", "PIL", "numpy"],
      ["python3-fastapi", "python3-uvicorn", "python3-multipart", "python3-torch", "python3-pil"],
    );
    if (peerSkipped === undefined) {
      const port = await freePort();
      const url = `http://127.0.0.1:${port}`;
      let stderr = "";
      peer = spawn(PYTHON, [PEER, String(port)], { cwd: dirname(PEER), stdio: ["ignore", "ignore", "pipe"] });
      trackChild(peer);
      peer.stderr?.on("data", (d: Buffer) => (stderr = (stderr + d.toString()).slice(-2000)));
      if (await waitHealthy(`${url}/health`, peer, 60_000)) {
        peerResult = await measure(url, requests, peer.pid ? [peer.pid] : [], timing);
        console.log(
          `peer         FastAPI + PyTorch (fastapi_serve.py, 1 uvicorn worker, untrained weights): ${describe(peerResult)}`,
        );
        console.log(
          `  cpu        ${fmt(peerResult.serverCpuMs, 2)} ms CPU per request in the peer; load generator ${fmt(peerResult.loadCpuMs, 2)} ms; other processes kept ${fmt(peerResult.otherCores, 2)} cores busy`,
        );
      } else {
        peerSkipped = `it did not become healthy: ${stderr.trim().split("\n").at(-1) ?? "no output"}`;
      }
      await stopChild(peer);
      peer = undefined;
    }
    if (peerSkipped) console.log(`peer         skipped: ${peerSkipped}`);

    // ---- ratios against the targets -------------------------------------------------------------------------------
    const others = Math.max(rawOthers, sightline.otherCores, peerResult?.otherCores ?? 0);
    if (others > 0.2)
      console.log(
        `note         other processes used up to ${fmt(others, 2)} of the ${CORES} cores during the runs: rates are low and noisy; the CPU per request is the steadier figure`,
      );
    const vsPeer = peerResult ? sightline.rps / peerResult.rps : Number.NaN;
    const vsRaw = sightline.rps / raw;
    const clean = [sightline, steady, lean, leanSteady].every((r) => r.non2xx + r.errors + r.timeouts === 0);
    if (peerResult)
      console.log(
        `ratio        ${fmt(vsPeer, 2)}× the peer's req/s          target ≥ ${TARGET.peer}×    ${verdict(vsPeer >= TARGET.peer)}`,
      );
    console.log(
      `ratio        ${fmt(vsRaw, 2)}× the raw pipeline's img/s   target ≥ ${TARGET.raw}×  ${verdict(vsRaw >= TARGET.raw)}${bound < TARGET.raw ? ` (unreachable here: the HTTP floor bounds any Node server at ${fmt(bound, 2)}×)` : ""}`,
    );
    // The target is judged only where the setup can show it: the rate was held, and the control — same CPU per
    // request, nothing else — meets it under the same load. Otherwise the machine, not the server, sets the tail.
    const tail = steady.p99 / steady.p50;
    const controlTail = control.p99 / control.p50;
    const judgeable = held(steady, rate) && held(control, rate) && controlTail <= TARGET.tail;
    const why =
      !held(steady, rate) || !held(control, rate)
        ? "the paced load fell behind its rate"
        : `the control shows ${fmt(controlTail, 2)}× under the same load`;
    console.log(
      `tail         p99 ${fmt(steady.p99, 1)} ms = ${fmt(tail, 2)}× p50 at 70 % of peak (paced); control ${fmt(controlTail, 2)}×   target ≤ ${TARGET.tail}×    ${judgeable ? verdict(tail <= TARGET.tail) : `NOT JUDGEABLE here (${why})`}`,
    );
    // CPU per request against the raw pipeline's per image, and the tail against the control's, for both setups.
    const cpuOverRaw = sightline.serverCpuMs / rawCpuMs;
    const leanCpuOverRaw = lean.serverCpuMs / rawCpuMs;
    console.log(
      `cpu          ${fmt(cpuOverRaw, 2)}× the raw pipeline's CPU per image with ${workers.length} workers, ${fmt(leanCpuOverRaw, 2)}× with ${fewer} (like for like)   target ≤ ${TARGET.cpuOverRaw}×    ${verdict(leanCpuOverRaw <= TARGET.cpuOverRaw)} (like for like), ${verdict(cpuOverRaw <= TARGET.cpuOverRaw)} (all cores)`,
    );
    const tailOverControl = tail / controlTail;
    const leanTail = leanSteady.p99 / leanSteady.p50;
    const leanControlTail = leanControl.p99 / leanControl.p50;
    const leanTailOverControl = leanTail / leanControlTail;
    const leanHeld = held(leanSteady, leanRate) && held(leanControl, leanRate);
    console.log(
      `tail         p99/p50 over the control's: ${fmt(tailOverControl, 2)}× with ${workers.length} workers, ${fmt(leanTailOverControl, 2)}× with ${fewer} (${fmt(leanTail, 2)}× against ${fmt(leanControlTail, 2)}×)   target ≤ ${TARGET.tailOverControl}×    ${leanHeld ? verdict(leanTailOverControl <= TARGET.tailOverControl) : "NOT JUDGEABLE (the paced load fell behind its rate)"} (like for like), ${verdict(tailOverControl <= TARGET.tailOverControl)} (all cores)`,
    );
    const sum = (f: (r: LoadResult) => number): number => f(sightline) + f(steady) + f(lean) + f(leanSteady);
    console.log(
      `errors       Sightline non-2xx ${sum((r) => r.non2xx)}, connection errors ${sum((r) => r.errors)}, timeouts ${sum((r) => r.timeouts)} (must be 0): ${clean ? "ok" : "FAILED"}`,
    );
    const round = (r: LoadResult): Record<string, number> => ({
      rps: Math.round(r.rps),
      p50_ms: +r.p50.toFixed(2),
      p99_ms: +r.p99.toFixed(2),
      non2xx: r.non2xx,
      errors: r.errors,
    });
    console.log(
      JSON.stringify({
        bench: "serve",
        cores: CORES,
        connections: CONNECTIONS,
        seconds: SECONDS,
        model: `${MODEL}:${cachedVersion}`,
        images: images.length,
        raw_img_per_s: Math.round(raw),
        other_cores: {
          raw: +rawOthers.toFixed(2),
          sightline: +sightline.otherCores.toFixed(2),
          peer: peerResult ? +peerResult.otherCores.toFixed(2) : null,
        },
        cpu_ms: {
          raw_per_image: +rawCpuMs.toFixed(3),
          sightline_per_request: +sightline.serverCpuMs.toFixed(3),
          peer_per_request: peerResult ? +peerResult.serverCpuMs.toFixed(3) : null,
        },
        sightline: round(sightline),
        http_floor: {
          ...round(floor),
          cpu_ms_per_request: +floor.serverCpuMs.toFixed(3),
          bound_vs_raw: +bound.toFixed(2),
        },
        rate70: {
          target_rps: rate,
          sightline: { ...round(steady), p99_over_p50: +tail.toFixed(2) },
          control: { ...round(control), spin_ms: +spinMs.toFixed(3), p99_over_p50: +controlTail.toFixed(2) },
        },
        like_for_like: {
          workers: fewer,
          sightline: {
            ...round(lean),
            cpu_ms_per_request: +lean.serverCpuMs.toFixed(3),
            cpu_over_raw: +leanCpuOverRaw.toFixed(2),
          },
          rate70: {
            target_rps: leanRate,
            sightline: { ...round(leanSteady), p99_over_p50: +leanTail.toFixed(2) },
            control: {
              ...round(leanControl),
              spin_ms: +leanSpinMs.toFixed(3),
              p99_over_p50: +leanControlTail.toFixed(2),
            },
            tail_over_control: +leanTailOverControl.toFixed(2),
          },
        },
        peer: peerResult ? round(peerResult) : { skipped: peerSkipped },
        ratios: { vs_peer: peerResult ? +vsPeer.toFixed(2) : null, vs_raw: +vsRaw.toFixed(2) },
        targets: {
          vs_peer: TARGET.peer,
          vs_raw: TARGET.raw,
          p99_over_p50: TARGET.tail,
          cpu_over_raw: TARGET.cpuOverRaw,
          tail_over_control: TARGET.tailOverControl,
        },
        met: {
          vs_peer: peerResult ? vsPeer >= TARGET.peer : null,
          vs_raw: vsRaw >= TARGET.raw,
          tail: judgeable ? tail <= TARGET.tail : null,
          cpu_over_raw: leanCpuOverRaw <= TARGET.cpuOverRaw,
          tail_over_control: leanHeld ? leanTailOverControl <= TARGET.tailOverControl : null,
          no_errors: clean,
        },
      }),
    );
    if (!clean) process.exitCode = 1;
  } finally {
    if (peer) await stopChild(peer);
    await serving?.stop();
    await rm(home, { recursive: true, force: true });
  }
}

// ---- helpers --------------------------------------------------------------------------------------------------

/** Whether a paced run kept up: behind schedule every request queues, and p99/p50 shrinks for the wrong reason. */
function held(r: PacedResult, rate: number): boolean {
  return r.rps >= 0.95 * rate;
}

function describePaced(r: PacedResult, rate: number): string {
  return `${rate} req/s open loop (bench/paced.ts), latency from when each was due: ${describe(r)}, p99/p50 ${fmt(r.p99 / r.p50, 2)}; ${r.connections} sockets, generator ${fmt(r.generatorCpuMs, 3)} ms CPU per request, its own send lag p99 ${fmt(r.sendLagP99, 1)} ms`;
}

type PacedResult = LoadResult & { generatorCpuMs: number; sendLagP99: number; connections: number };

/** Open-loop load at `rate` for timing.seconds from a child process of its own (bench/paced.ts), after a short warm-up. */
async function paced(url: string, requests: AutocannonRequest[], rate: number, timing: Timing): Promise<PacedResult> {
  const run = async (seconds: number): Promise<PacedReply> => {
    const child = fork(join(HERE, "paced.ts"), [], {
      execArgv: process.execArgv,
      serialization: "advanced",
      stdio: "inherit",
    });
    trackChild(child);
    try {
      const reply = firstMessage<PacedReply>(child, "bench/paced.ts", "a result");
      const command: PacedCommand = { url, path: "/predict", requests, rate, seconds, maxConnections: 256 };
      child.send(command);
      return await reply;
    } finally {
      await stopChild(child);
    }
  };
  if (timing.warmup > 0) await run(timing.warmup);
  const r = await run(timing.seconds);
  const ok = r.latencies.length;
  return {
    rps: ok / r.seconds,
    completed: ok,
    seconds: r.seconds,
    p50: percentile(r.latencies, 0.5),
    p99: percentile(r.latencies, 0.99),
    max: r.latencies.at(-1) ?? Number.NaN,
    non2xx: Object.entries(r.statusCodes).reduce((n, [code, count]) => (code.startsWith("2") ? n : n + count), 0),
    errors: r.errors,
    timeouts: 0,
    statusCodes: r.statusCodes,
    generatorCpuMs: r.cpuMsPerRequest,
    sendLagP99: r.sendLagP99,
    connections: r.connections,
  };
}

/** Runs `work` against the control server (bench/bare-server.ts) on `processes` processes sharing one port. */
async function withBare<T>(
  spinMs: number,
  processes: number,
  work: (url: string, pids: number[]) => Promise<T>,
): Promise<T> {
  const procs: ChildProcess[] = [];
  const start = (port: number): Promise<number> => {
    const child = fork(join(HERE, "bare-server.ts"), [], { execArgv: process.execArgv, stdio: "inherit" });
    trackChild(child);
    procs.push(child);
    const reply = firstMessage<BareReply>(child, "bench/bare-server.ts", "listening");
    child.send({ port, spinMs } satisfies BareCommand);
    return reply.then((r) => r.listening);
  };
  try {
    const port = await start(0);
    for (let i = 1; i < processes; i++) await start(port);
    return await work(
      `http://127.0.0.1:${port}`,
      procs.flatMap((p) => (p.pid ? [p.pid] : [])),
    );
  } finally {
    await Promise.all(procs.map((p) => stopChild(p)));
  }
}

/** How many of the images the served model labels as their folder says (the server answers, and sensibly). */
async function accuracy(url: string, list: { path: string; label: string; bytes: Uint8Array }[]): Promise<number> {
  let correct = 0;
  for (const image of list) {
    const form = new FormData();
    form.append("file", new Blob([image.bytes], { type: "image/png" }), "image.png");
    const res = await fetch(`${url}/predict`, { method: "POST", body: form });
    if (!res.ok) throw new Error(`POST /predict answered ${res.status}: ${await res.text()}`);
    const body = (await res.json()) as { predictions: { label: string }[] };
    if (body.predictions[0]?.label === image.label) correct++;
  }
  return correct;
}
