// Benchmark: the trainer end to end (`runTraining`: load + preprocess, train on the wasm backend with the fast
// kernels, evaluate, export, register) on the full Fashion-MNIST — 60,000 training images (10 % of them held out
// for validation by content hash) and the 10,000 test images — and, when PyTorch is installed, the PyTorch peer
// (../shared/peers/torch_train.py, same CNN, 2 threads) in the same run. Prints img/s, test accuracy and the ratio.
//
//   node bench/train.ts [--config trainer/configs/reference-cnn.yaml] [--epochs N] [--peer-epochs N] [--no-peer]
//   node bench/train.ts --byo [--epochs 2]     the PyTorch example as a Sightline trainer vs bare (train-byo.ts)
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { FsBlobStore } from "../core/blobs/fs-blob-store.ts";
import { importIdx } from "../core/datasets/import-idx.ts";
import { versionDataset } from "../core/datasets/version.ts";
import { LocalBus } from "../core/events/local-bus.ts";
import { SqliteStore } from "../core/meta/sqlite-store.ts";
import { createLogger } from "../core/telemetry/logger.ts";
import { loadTrainConfig, REFERENCE_CONFIG } from "../trainer/config.ts";
import { runTraining } from "../trainer/run.ts";
import { benchByo } from "./train-byo.ts";
import { FMNIST_DIR } from "../core/config/settings/tools.ts";

const { values } = parseArgs({
  options: {
    config: { type: "string", default: REFERENCE_CONFIG },
    epochs: { type: "string" },
    "peer-epochs": { type: "string", default: "1" },
    "no-peer": { type: "boolean", default: false },
    byo: { type: "boolean", default: false },
  },
});
const FMNIST = FMNIST_DIR.read()!;
const NAMES = ["t-shirt", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag", "ankle-boot"];
const DATA = join(tmpdir(), "sightline-bench-fmnist");
const PEER = resolve(dirname(fileURLToPath(import.meta.url)), "../../shared/peers/torch_train.py");

if (!existsSync(join(FMNIST, "train-images-idx3-ubyte.gz"))) {
  console.error(`${FMNIST} not found: apt-get install dataset-fashion-mnist`);
  process.exit(1);
}
if (!existsSync(join(DATA, "test"))) {
  await importIdx({
    images: join(FMNIST, "train-images-idx3-ubyte.gz"),
    labels: join(FMNIST, "train-labels-idx1-ubyte.gz"),
    out: join(DATA, "train"),
    names: NAMES,
  });
  await importIdx({
    images: join(FMNIST, "t10k-images-idx3-ubyte.gz"),
    labels: join(FMNIST, "t10k-labels-idx1-ubyte.gz"),
    out: join(DATA, "test"),
    names: NAMES,
  });
}

if (values.byo) {
  await benchByo(DATA, Number(values.epochs ?? 2), createLogger({ component: "bench" }, { level: "WARNING" }));
  process.exit(0);
}

const config = await loadTrainConfig(values.config, values.epochs ? { epochs: Number(values.epochs) } : {});
const home = await mkdtemp(join(tmpdir(), "sightline-bench-train-"));
const log = createLogger({ component: "bench" }, { level: "WARNING" });
const rt = {
  blobs: new FsBlobStore(join(home, "blobs")),
  meta: new SqliteStore(join(home, "meta.db")),
  bus: new LocalBus(join(home, "meta.db"), { logger: log }),
  log,
};
try {
  const { record } = await versionDataset(rt, DATA, { validate: false });
  console.log(
    `dataset      ${record.id.slice(0, 12)}… ${JSON.stringify(record.splits)}; config ${config.architecture}, ${config.epochs} epochs`,
  );
  const started = performance.now();
  let lastEpoch = "";
  const { card } = await runTraining(
    rt,
    { requestId: "bench", model: "bench", datasetId: record.id, config, actor: "bench" },
    {
      onEpoch: (e) => {
        lastEpoch = `epoch ${e.epoch}: loss ${e.loss.toFixed(4)} acc ${e.accuracy.toFixed(4)} val ${e.valAccuracy?.toFixed(4)} ${e.imagesPerSecond.toFixed(0)} img/s`;
        console.log(`  ${lastEpoch}`);
      },
    },
  );
  const total = (performance.now() - started) / 1000;
  console.log(
    `sightline    ${card.imagesPerSecond.toFixed(0)} img/s training (${card.backend}), test accuracy ${card.metrics.accuracy?.toFixed(4)}, macro-F1 ${card.metrics.macro_f1?.toFixed(4)}, ${total.toFixed(0)} s end to end`,
  );

  const torch = spawnSync("/usr/bin/python3", ["-c", "import torch"], { stdio: "ignore" });
  if (values["no-peer"] || torch.status !== 0 || !existsSync(PEER)) {
    console.log("peer         skipped (PyTorch not installed: apt-get install python3-torch, or --no-peer)");
  } else {
    const peer = spawnSync("/usr/bin/python3", [PEER, values["peer-epochs"], "60000", "2"], {
      encoding: "utf8",
      env: { ...process.env, [FMNIST_DIR.name]: FMNIST },
      cwd: dirname(PEER),
    });
    const ips = Number(/img_per_s=(\d+)/.exec(peer.stdout)?.[1]);
    const acc = /test_acc=([\d.]+)/.exec(peer.stdout)?.[1];
    console.log(`peer         ${peer.stdout.trim() || peer.stderr.trim()}`);
    if (Number.isFinite(ips))
      console.log(
        `ratio        ${(card.imagesPerSecond / ips).toFixed(2)}× the PyTorch peer's img/s (peer test accuracy ${acc} after ${values["peer-epochs"]} epoch(s))`,
      );
  }
} finally {
  await rt.bus.close();
  await rt.meta.close();
  await rm(home, { recursive: true, force: true });
}
