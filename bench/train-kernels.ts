// Benchmark: training img/s of the reference CNN (../shared/peers/torch_train.py: conv 32 → pool → conv 64 → pool →
// dense 128 → dropout 0.25 → dense 10; Adam 1e-3, batch 64, softmax cross-entropy) with tfjs-layers on the wasm
// backend, on real Fashion-MNIST images, for
//   (a) baseline: the stock wasm backend plus a direct-loop Conv2DBackpropFilter (the kernel it lacks), and
//   (b) the fast kernels of trainer/kernels,
// and, when PyTorch is installed, the PyTorch peer on the same images in the same run. Prints, asserts nothing.
//
//   node bench/train-kernels.ts [N=4096] [--threads T=2] [--baseline-n B=512] [--no-peer] [--profile]
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import * as tf from "@tensorflow/tfjs-core";
import * as tfl from "@tensorflow/tfjs-layers";
import { readIdx } from "../core/datasets/idx.ts";
import {
  registerBaselineKernels,
  registerFastKernels,
  releaseWasmBackend,
  unregisterFastKernels,
  useWasmBackend,
} from "../trainer/kernels/register.ts";
import { fusedAdam } from "../trainer/kernels/adam.ts";
import { FMNIST_DIR } from "../core/config/settings/tools.ts";

const args = process.argv.slice(2);
const flag = (name: string): boolean => args.includes(`--${name}`);
const option = (name: string, fallback: number): number => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : fallback;
};
const positional = args.find((a, i) => !a.startsWith("--") && !(args[i - 1] ?? "").startsWith("--") && /^\d+$/.test(a));
const N = Number(positional ?? 4096);
const THREADS = option("threads", 2);
const BASELINE_N = option("baseline-n", 512);
const BATCH = 64;

const FMNIST = FMNIST_DIR.read()!;
const here = dirname(fileURLToPath(import.meta.url));
const PEER = resolve(here, "../../shared/peers/torch_train.py");

if (!existsSync(join(FMNIST, "train-images-idx3-ubyte.gz"))) {
  console.error(`${FMNIST} not found: apt-get install dataset-fashion-mnist`);
  process.exit(1);
}

const images = await readIdx(join(FMNIST, "train-images-idx3-ubyte.gz"));
const labels = await readIdx(join(FMNIST, "train-labels-idx1-ubyte.gz"));
const total = Math.max(N, BASELINE_N);
if (total > (images.dims[0] ?? 0)) throw new Error(`only ${images.dims[0]} training images`);
const pixels = new Float32Array(total * 784);
for (let i = 0; i < pixels.length; i++) pixels[i] = (images.data[i] ?? 0) / 255;
const labelIds = Int32Array.from(labels.data.subarray(0, total));

const info = await useWasmBackend(THREADS, { fastKernels: false });
console.log(`tfjs wasm backend, ${info.threads} thread(s); batch ${BATCH}; Fashion-MNIST train images`);

function referenceCnn(fast: boolean): tfl.Sequential {
  const m = tfl.sequential();
  m.add(
    tfl.layers.conv2d({ inputShape: [28, 28, 1], filters: 32, kernelSize: 3, padding: "same", activation: "relu" }),
  );
  m.add(tfl.layers.maxPooling2d({ poolSize: 2 }));
  m.add(tfl.layers.conv2d({ filters: 64, kernelSize: 3, padding: "same", activation: "relu" }));
  m.add(tfl.layers.maxPooling2d({ poolSize: 2 }));
  m.add(tfl.layers.flatten());
  m.add(tfl.layers.dense({ units: 128, activation: "relu" }));
  m.add(tfl.layers.dropout({ rate: 0.25 }));
  m.add(tfl.layers.dense({ units: 10, activation: "softmax" }));
  // (b) fuses the Adam update per variable (trainer/kernels/adam.ts), as the trainer does.
  m.compile({ optimizer: fast ? fusedAdam(1e-3) : tf.train.adam(1e-3), loss: "categoricalCrossentropy" });
  return m;
}

function batches(n: number): { xs: tf.Tensor4D; ys: tf.Tensor2D }[] {
  const out: { xs: tf.Tensor4D; ys: tf.Tensor2D }[] = [];
  for (let s = 0; s + BATCH <= n; s += BATCH) {
    const xs = tf.tensor4d(pixels.subarray(s * 784, (s + BATCH) * 784), [BATCH, 28, 28, 1]);
    const ys = tf.tidy(() =>
      tf.cast(tf.oneHot(tf.tensor1d(labelIds.subarray(s, s + BATCH), "int32"), 10), "float32"),
    ) as tf.Tensor2D;
    out.push({ xs, ys });
  }
  return out;
}

interface Result {
  imgPerSec: number;
  loss: number;
  leak: number;
}

async function train(n: number, fast: boolean): Promise<Result> {
  const model = referenceCnn(fast);
  const data = batches(n);
  const warm = data[0];
  if (warm === undefined) throw new Error(`N must be ≥ ${BATCH}`);
  await model.trainOnBatch(warm.xs, warm.ys); // builds the optimizer's slots, compiles kernels
  const before = tf.memory().numTensors;
  const t0 = performance.now();
  let loss = NaN;
  for (const b of data) loss = Number(await model.trainOnBatch(b.xs, b.ys));
  const s = (performance.now() - t0) / 1000;
  const leak = tf.memory().numTensors - before;
  for (const b of data) tf.dispose([b.xs, b.ys]);
  model.dispose();
  return { imgPerSec: (data.length * BATCH) / s, loss, leak };
}

async function profile(label: string, fast: boolean): Promise<void> {
  const model = referenceCnn(fast);
  const [b] = batches(BATCH);
  if (b === undefined) return;
  await model.trainOnBatch(b.xs, b.ys);
  const p = await tf.profile(async () => {
    await model.trainOnBatch(b.xs, b.ys);
  });
  const byKernel = new Map<string, number>();
  for (const k of p.kernels) byKernel.set(k.name, (byKernel.get(k.name) ?? 0) + Number(k.kernelTimeMs));
  const rows = [...byKernel.entries()].sort((x, y) => y[1] - x[1]);
  const sum = rows.reduce((a, r) => a + r[1], 0);
  console.log(`  profile (${label}, one batch): ${sum.toFixed(1)} ms in kernels`);
  for (const [name, ms] of rows.slice(0, 10)) console.log(`    ${name.padEnd(24)} ${ms.toFixed(2).padStart(8)} ms`);
  tf.dispose([b.xs, b.ys]);
  model.dispose();
}

const fmt = (r: Result): string =>
  `${r.imgPerSec.toFixed(0).padStart(6)} img/s   (last loss ${r.loss.toFixed(3)}, tensor delta ${r.leak})`;

let baseline: Result | undefined;
if (BASELINE_N >= BATCH) {
  registerBaselineKernels();
  baseline = await train(BASELINE_N, false);
  console.log(`baseline (stock wasm + direct-loop Conv2DBackpropFilter), ${BASELINE_N} images: ${fmt(baseline)}`);
  if (flag("profile")) await profile("baseline", false);
  unregisterFastKernels();
}

registerFastKernels();
const fast = await train(N, true);
console.log(`fast kernels, ${N} images:${" ".repeat(Math.max(1, 44 - String(N).length))}${fmt(fast)}`);
if (flag("profile")) await profile("fast", true);
if (baseline !== undefined)
  console.log(`speed-up fast / baseline: ${(fast.imgPerSec / baseline.imgPerSec).toFixed(1)}×`);
releaseWasmBackend();

if (!flag("no-peer")) {
  const probe = spawnSync("/usr/bin/python3", ["-c", "import torch"], { encoding: "utf8" });
  if (probe.status !== 0 || !existsSync(PEER)) {
    console.log("PyTorch peer: not available (apt-get install python3-torch)");
  } else {
    const run = spawnSync("/usr/bin/python3", [PEER, "1", String(N), "2"], { cwd: dirname(PEER), encoding: "utf8" });
    const m = /img_per_s=(\d+(?:\.\d+)?)/.exec(run.stdout);
    if (run.status !== 0 || m === null) {
      console.log(`PyTorch peer failed: ${run.stderr.trim().split("\n").slice(-1)[0] ?? ""}`);
    } else {
      const peer = Number(m[1]);
      console.log(
        `PyTorch peer (2 threads), ${N} images:      ${peer.toFixed(0).padStart(6)} img/s   (${run.stdout.trim()})`,
      );
      console.log(`ratio fast / PyTorch: ${(fast.imgPerSec / peer).toFixed(2)}   (target ≥ 0.5)`);
      if (baseline !== undefined) console.log(`ratio baseline / PyTorch: ${(baseline.imgPerSec / peer).toFixed(3)}`);
    }
  }
}
process.exit(0);
