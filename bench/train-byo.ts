// Benchmark section of bench/train.ts (`--byo`): the PyTorch example (examples/pytorch/train.py) as a Sightline
// trainer on the trainer contract, against the same script run bare on the same staged files, in the same run.
// Prints the platform's overhead — staging the dataset as files, evaluating through the serving preprocessing,
// profiling, registering — as a share of Sightline's wall time (target ≤ 15 % for 2 epochs on full Fashion-MNIST).
import { spawnSync } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { FsBlobStore } from "../core/blobs/fs-blob-store.ts";
import { versionDataset } from "../core/datasets/version.ts";
import { LocalBus } from "../core/events/local-bus.ts";
import { getRun } from "../core/jobs/run-record.ts";
import { argvOf, contractEnv, runLayout } from "../core/jobs/trainer-contract.ts";
import { TrainerDefinitionSchema } from "../core/jobs/trainers.ts";
import { SqliteStore } from "../core/meta/sqlite-store.ts";
import type { Logger } from "../core/telemetry/logger.ts";
import { runContractTraining } from "../trainer/contract/run.ts";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const SCRIPT = join(ROOT, "examples/pytorch/train.py");

export async function benchByo(data: string, epochs: number, log: Logger): Promise<void> {
  if (spawnSync("/usr/bin/python3", ["-c", "import torch, onnx, PIL"], { stdio: "ignore" }).status !== 0) {
    console.log("byo          skipped (apt-get install python3-torch python3-torchvision python3-onnx python3-pil)");
    return;
  }
  const home = await mkdtemp(join(tmpdir(), "sightline-bench-byo-"));
  const rt = {
    blobs: new FsBlobStore(join(home, "blobs")),
    meta: new SqliteStore(join(home, "meta.db")),
    bus: new LocalBus(join(home, "meta.db"), { logger: log }),
    log,
  };
  try {
    const { record } = await versionDataset(rt, data, { validate: false });
    const args = { epochs, width: 28, height: 28, channels: 1, threads: 2 };
    const trainer = TrainerDefinitionSchema.parse({ command: ["/usr/bin/python3", SCRIPT], cwd: ROOT, args });
    const marks: Record<string, number> = {};
    const started = performance.now();
    const { card, runId } = await runContractTraining(
      rt,
      {
        requestId: "bench-byo",
        model: "bench-byo",
        datasetId: record.id,
        actor: "bench",
        trainer,
        args,
        seed: 0,
        fineTune: false,
        home,
      },
      { onPhase: (phase) => (marks[phase] = performance.now()) },
    );
    const total = (performance.now() - started) / 1000;
    const staging = (marks.train! - marks.stage!) / 1000;
    const trainerSeconds = card.trainingSeconds;
    const after = total - trainerSeconds - (marks.train! - started) / 1000;
    const own = (await getRun(rt.meta, runId))?.metrics.findLast((m) => m.test_accuracy !== undefined)?.test_accuracy;

    // The same script on the same staged files, with the same environment, and nothing of Sightline around it.
    const layout = runLayout(join(home, "bare"), join(home, "staged", record.id));
    const env = {
      ...process.env,
      ...contractEnv({ layout, classes: record.classes, seed: 0, args, runId: "bare", fineTune: false }),
    };
    const bareStart = performance.now();
    const bare = spawnSync("/usr/bin/python3", [SCRIPT, ...argvOf(args)], { cwd: ROOT, env, encoding: "utf8" });
    const bareSeconds = (performance.now() - bareStart) / 1000;
    if (bare.status !== 0) throw new Error(`bare run failed: ${bare.stderr.slice(-2000)}`);

    console.log(
      `byo          ${epochs} epochs of examples/pytorch/train.py on ${record.splits.train} training images (28×28 grey, NCHW)`,
    );
    console.log(
      `  sightline  ${total.toFixed(1)} s: staging ${staging.toFixed(1)} s, trainer ${trainerSeconds.toFixed(1)} s, evaluate + profile + register ${after.toFixed(1)} s`,
    );
    console.log(`  bare       ${bareSeconds.toFixed(1)} s (the script alone, same files and environment)`);
    console.log(
      `  accuracy   platform ${card.metrics.accuracy?.toFixed(4)} on ${record.splits.test} test images; the script's own ${own?.toFixed(4) ?? "—"} (difference ${own === undefined ? "—" : Math.abs(own - card.metrics.accuracy!).toFixed(4)})`,
    );
    // The platform's own time is measured directly; the bare run shows the trainer itself ran no slower inside it.
    const platform = total - trainerSeconds;
    console.log(
      `overhead     ${((platform / total) * 100).toFixed(1)} % of Sightline's wall time is the platform's (${platform.toFixed(1)} s; target ≤ 15 %); against the bare run: ${(((total - bareSeconds) / total) * 100).toFixed(1)} %`,
    );
    console.log(
      `  trainer    ${(trainerSeconds / bareSeconds).toFixed(2)}× the bare run's time inside Sightline (1.00 = no slowdown; a busy machine moves this)`,
    );
  } finally {
    await rt.bus.close();
    await rt.meta.close();
    await rm(home, { recursive: true, force: true });
  }
}
