// bench/serve.ts --model resnet18: a realistic model, where inference (not HTTP) dominates. torchvision's ResNet-18
// with random weights (bench/resnet18-model.ts), 224×224 RGB JPEGs, POST /predict multipart under closed-loop load
// (autocannon, the same connections as fmnist). Measured in the same run:
//   raw        decode + preprocess + ONNX Runtime in process, batch 1, one process per core (bench/serve-raw.ts);
//   Sightline  runServing on 127.0.0.1, one worker per core, the prediction log at its default rate;
//   peer       FastAPI + PyTorch eager on the same weights (bench/peers/fastapi_resnet18.py), one uvicorn process
//              of one torch thread per core, each on its own SO_REUSEPORT socket, when its Debian packages are installed.
// Targets: Sightline ≥ 0.9× the raw pipeline's rate and ≥ 1.6× the peer's. Ends with one JSON summary line.
import { spawn, type ChildProcess } from "node:child_process";
import { get } from "node:http";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { z } from "zod";
import { loadConfig } from "../core/config/config.ts";
import { openRuntime } from "../core/config/runtime.ts";
import { PRODUCTION } from "../core/registry/aliases.ts";
import type { Logger } from "../core/telemetry/logger.ts";
import { loadServingConfig } from "../serving/config.ts";
import { runServing, type Serving } from "../serving/run.ts";
import { multipartRequests } from "./load.ts";
import { benchCacheDir, registerResnet18, resnet18Assets, RESNET18 } from "./resnet18-model.ts";
import {
  describe,
  fmt,
  freePort,
  measure,
  peerSkipReason,
  processTree,
  PYTHON,
  runRaw,
  sleep,
  stopGroup,
  trackGroup,
  waitHealthy,
  workerPids,
  type Measured,
  type Timing,
} from "./serve-kit.ts";
import { ceilingLine, meets, ratioLine } from "./targets.ts";

const HERE = dirname(fileURLToPath(import.meta.url));
const PEER = join(HERE, "peers/fastapi_resnet18.py");
export const RESNET18_TARGET = { raw: 0.9, peer: 1.6 };

export interface Resnet18Options extends Timing {
  /** Distinct JPEGs to rotate over (rounded up to a whole number per class). */
  images: number;
  noPeer: boolean;
}

/** The top class of one image as a server answered it: Sightline's `predictions[0].index`, the peer's `label`. */
type TopOf = (body: unknown) => number;
const sightlineTop: TopOf = (body) =>
  z.object({ predictions: z.array(z.object({ index: z.number() })).min(1) }).parse(body).predictions[0]!.index;
const peerTop: TopOf = (body) => z.object({ label: z.number() }).parse(body).label;

export async function benchResnet18(options: Resnet18Options, log: Logger): Promise<void> {
  const cache = benchCacheDir();
  const perClass = Math.max(1, Math.ceil(options.images / 10));
  const started = performance.now();
  const assets = await resnet18Assets(cache, perClass, PYTHON);
  const { export: info } = assets;
  console.log(
    assets.built.length
      ? `model        ${RESNET18}: ${assets.built.join("; ")} in ${fmt((performance.now() - started) / 1000)} s (once; later runs reuse ${cache})`
      : `model        ${RESNET18}: reused from ${cache} (delete it to re-export)`,
  );
  console.log(
    `  export     torchvision resnet18, ${(info.parameters / 1e6).toFixed(1)} M parameters, random weights (seed ${info.seed}), ${info.classes} classes, opset ${info.opset}; the peer loads the same weights (${info.state_dict})`,
  );

  const home = await mkdtemp(join(tmpdir(), "sightline-bench-resnet18-"));
  let serving: Serving | undefined;
  let peer: ChildProcess | undefined;
  try {
    const runtime = loadConfig({ SIGHTLINE_HOME: home }, home);
    const rt = await openRuntime(runtime, log);
    const { version, card } = await registerResnet18(rt, assets).finally(() => rt.close());
    const spec = card.preprocessing;

    const picked = assets.images.slice(0, options.images);
    const images = await Promise.all(
      picked.map(async (p) => ({ ...p, type: "image/jpeg", bytes: new Uint8Array(await readFile(p.path)) })),
    );
    const requests = multipartRequests(images);
    const kb = images.reduce((n, i) => n + i.bytes.length, 0) / images.length / 1024;
    console.log(
      `images       ${images.length} distinct RGB Fashion JPEGs (${spec.width}×${spec.height}, quality 90, ${fmt(kb, 1)} KiB on average) from ${assets.dataset}, one multipart \`file\` part per request`,
    );
    console.log(
      `machine      ${options.cores} cores shared by the load generator, the server and the baselines; load ${options.connections} connections, ${options.warmup} s warm-up + ${options.seconds} s`,
    );

    // ---- the raw in-process pipeline, one process per core ------------------------------------------------------
    const raw = await runRaw(
      {
        model: info.onnx,
        spec,
        input: card.onnx.input,
        outputs: [card.onnx.outputs.scores],
        images: images.map((i) => i.path),
      },
      options,
    );
    console.log(
      `raw          ${fmt(raw.rate, 1)} img/s  decode + preprocess + ONNX Runtime, batch 1, ${options.cores} processes × ${options.seconds} s (no HTTP); ${fmt(raw.cpuMs, 1)} ms CPU per image; other processes kept ${fmt(raw.otherCores, 2)} cores busy`,
    );

    // ---- Sightline ------------------------------------------------------------------------------------------------
    const servingConfig = loadServingConfig(process.env, {
      host: "127.0.0.1",
      port: 0,
      model: { name: RESNET18, alias: PRODUCTION },
    });
    serving = await runServing(runtime, servingConfig, log);
    const sightlineTops = await topClasses(serving.url, images, sightlineTop);
    console.log(
      `sightline    ${serving.url}, ${RESNET18}:${version.version}, ${serving.workers} workers, ORT ${servingConfig.ortThreads} thread each, prediction log rate ${servingConfig.predictionLog.sampleRate}, batching ≤ ${servingConfig.batch.maxSize} / ${servingConfig.batch.maxDelayMs} ms`,
    );
    const workers = workerPids();
    const sightline = await measure(serving.url, requests, workers, options);
    console.log(`  peak       ${describe(sightline)}`);
    console.log(
      `  cpu        ${fmt(sightline.serverCpuMs, 1)} ms CPU per request in the ${workers.length} workers (the raw pipeline: ${fmt(raw.cpuMs, 1)} ms per image); load generator ${fmt(sightline.loadCpuMs, 2)} ms; other processes kept ${fmt(sightline.otherCores, 2)} cores busy`,
    );
    await serving.stop();
    serving = undefined;

    // ---- the FastAPI + PyTorch peer on the same weights -------------------------------------------------------------
    let peerResult: Measured | undefined;
    let peerSkipped = peerSkipReason(
      options.noPeer,
      PEER,
      ["fastapi", "uvicorn", "multipart", "torch", "torchvision", "PIL", "numpy"],
      [
        "python3-fastapi",
        "python3-uvicorn",
        "python3-multipart",
        "python3-torch",
        "python3-torchvision",
        "python3-pil",
      ],
    );
    let agreement: number | undefined;
    if (peerSkipped === undefined) {
      const port = await freePort();
      const url = `http://127.0.0.1:${port}`;
      let stderr = "";
      // Its own process group: the supervisor and its workers stop together.
      peer = trackGroup(
        spawn(PYTHON, [PEER, String(port), info.state_dict, String(options.cores)], {
          stdio: ["ignore", "ignore", "pipe"],
          detached: true,
        }),
      );
      peer.stderr?.on("data", (d: Buffer) => (stderr = (stderr + d.toString()).slice(-2000)));
      // Each worker imports torch and loads the weights: slow on a busy machine.
      if ((await waitHealthy(`${url}/health`, peer, 120_000)) && (await allWorkersUp(url, options.cores, 120_000))) {
        const peerTops = await topClasses(url, images, peerTop);
        agreement = peerTops.filter((top, i) => top === sightlineTops[i]).length;
        const pids = peer.pid ? processTree(peer.pid) : [];
        const measured = await measure(url, requests, pids, options);
        console.log(
          `peer         FastAPI + PyTorch eager (fastapi_resnet18.py, ${options.cores} uvicorn processes of 1 torch thread on SO_REUSEPORT sockets, the same weights): ${describe(measured)}`,
        );
        if (measured.completed > 0) {
          peerResult = measured;
          console.log(
            `  cpu        ${fmt(measured.serverCpuMs, 1)} ms CPU per request in the peer's ${pids.length} processes; load generator ${fmt(measured.loadCpuMs, 2)} ms; other processes kept ${fmt(measured.otherCores, 2)} cores busy`,
          );
        } else {
          peerSkipped = `it answered no request in ${options.seconds} s (${measured.errors} errors, ${measured.timeouts} timeouts): no ratio`;
        }
        console.log(
          `  agreement  ${agreement}/${images.length} images get the same top class from the peer as from Sightline (same weights; PIL and libvips decode JPEG slightly differently)`,
        );
      } else {
        peerSkipped = `it did not become healthy: ${stderr.trim().split("\n").at(-1) ?? "no output"}`;
      }
      await stopGroup(peer);
      peer = undefined;
    }
    if (peerSkipped) console.log(`peer         skipped: ${peerSkipped}`);

    // ---- ratios against the targets -------------------------------------------------------------------------------
    const others = Math.max(raw.otherCores, sightline.otherCores, peerResult?.otherCores ?? 0);
    if (others > 0.2)
      console.log(
        `note         other processes used up to ${fmt(others, 2)} of the ${options.cores} cores during the runs: rates are low and noisy; the CPU per request is the steadier figure`,
      );
    const vsRaw = sightline.rps / raw.rate;
    const vsPeer = peerResult ? sightline.rps / peerResult.rps : Number.NaN;
    console.log(ratioLine(vsRaw, RESNET18_TARGET.raw, "the raw pipeline's img/s"));
    const rawOverPeer = peerResult ? raw.rate / peerResult.rps : Number.NaN;
    if (peerResult)
      console.log(
        `${ratioLine(vsPeer, RESNET18_TARGET.peer, "the peer's req/s")}\n${ceilingLine(rawOverPeer, RESNET18_TARGET.peer)}`,
      );
    // CPU time per request moves less than rates when other processes take the cores: the steadier comparison here.
    const cpuOverRaw = sightline.serverCpuMs / raw.cpuMs;
    const cpuOverPeer = peerResult ? sightline.serverCpuMs / peerResult.serverCpuMs : Number.NaN;
    console.log(
      `cpu ratio    per request, Sightline needs ${fmt(cpuOverRaw, 2)}× the raw pipeline's CPU per image${peerResult ? ` and ${fmt(cpuOverPeer, 2)}× the peer's CPU per request` : ""} (reported, not targets)`,
    );
    const clean = sightline.non2xx + sightline.errors + sightline.timeouts === 0;
    console.log(
      `errors       Sightline non-2xx ${sightline.non2xx}, connection errors ${sightline.errors}, timeouts ${sightline.timeouts} (must be 0): ${clean ? "ok" : "FAILED"}`,
    );
    const round = (r: Measured): Record<string, number> => ({
      rps: +r.rps.toFixed(1),
      p50_ms: +r.p50.toFixed(1),
      p99_ms: +r.p99.toFixed(1),
      cpu_ms_per_request: +r.serverCpuMs.toFixed(1),
      non2xx: r.non2xx,
      errors: r.errors,
    });
    console.log(
      JSON.stringify({
        bench: "serve-resnet18",
        cores: options.cores,
        connections: options.connections,
        seconds: options.seconds,
        model: `${RESNET18}:${version.version}`,
        parameters: info.parameters,
        images: images.length,
        raw: { img_per_s: +raw.rate.toFixed(1), cpu_ms_per_image: +raw.cpuMs.toFixed(1) },
        other_cores: {
          raw: +raw.otherCores.toFixed(2),
          sightline: +sightline.otherCores.toFixed(2),
          peer: peerResult ? +peerResult.otherCores.toFixed(2) : null,
        },
        sightline: round(sightline),
        peer: peerResult ? { ...round(peerResult), top_class_agreement: agreement } : { skipped: peerSkipped },
        ratios: {
          vs_raw: +vsRaw.toFixed(2),
          vs_peer: peerResult ? +vsPeer.toFixed(2) : null,
          raw_over_peer: peerResult ? +rawOverPeer.toFixed(2) : null,
          cpu_over_raw: +cpuOverRaw.toFixed(2),
          cpu_over_peer: peerResult ? +cpuOverPeer.toFixed(2) : null,
        },
        targets: { vs_raw: RESNET18_TARGET.raw, vs_peer: RESNET18_TARGET.peer },
        met: {
          vs_raw: meets(vsRaw, RESNET18_TARGET.raw),
          vs_peer: peerResult ? meets(vsPeer, RESNET18_TARGET.peer) : null,
          no_errors: clean,
        },
      }),
    );
    if (!clean) process.exitCode = 1;
  } finally {
    if (peer) await stopGroup(peer);
    await serving?.stop();
    await rm(home, { recursive: true, force: true });
  }
}

/**
 * Whether `workers` distinct peer processes answer /health within the time: the port answers as soon as its first
 * worker is up, while the others may still be loading torch. Each probe is a new connection (no keep-alive), so
 * the kernel hands it to any worker that is listening.
 */
async function allWorkersUp(url: string, workers: number, timeoutMs: number): Promise<boolean> {
  const seen = new Set<number>();
  const deadline = performance.now() + timeoutMs;
  const probe = (): Promise<number | undefined> =>
    new Promise((resolve) => {
      const req = get(`${url}/health`, { agent: false }, (res) => {
        let body = "";
        res.on("data", (d: Buffer) => (body += d.toString()));
        res.on("end", () => {
          try {
            resolve(z.object({ pid: z.number() }).safeParse(JSON.parse(body)).data?.pid);
          } catch {
            resolve(undefined); // not JSON: not one of the peer's workers answering
          }
        });
      });
      req.on("error", () => resolve(undefined));
    });
  while (performance.now() < deadline) {
    const pid = await probe();
    if (pid !== undefined) seen.add(pid);
    if (seen.size >= workers) return true;
    await sleep(50);
  }
  return false;
}

/** Each image's top class as `url`'s POST /predict answers it, one request at a time (and the server answers). */
async function topClasses(url: string, list: { bytes: Uint8Array; type: string }[], top: TopOf): Promise<number[]> {
  const tops: number[] = [];
  for (const image of list) {
    const form = new FormData();
    form.append("file", new Blob([image.bytes], { type: image.type }), "image.jpg");
    const res = await fetch(`${url}/predict`, { method: "POST", body: form });
    if (!res.ok) throw new Error(`POST ${url}/predict answered ${res.status}: ${await res.text()}`);
    tops.push(top(await res.json()));
  }
  return tops;
}
