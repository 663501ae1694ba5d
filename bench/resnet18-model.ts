// The realistic model of bench/serve.ts --model resnet18: torchvision's ResNet-18 with seeded random weights,
// exported once by bench/peers/resnet18_export.py (ONNX for Sightline and the raw pipeline, a state_dict with the
// same weights for the PyTorch peer), and 224×224 RGB Fashion JPEGs (examples/rgb-fashion) to send it. Both are
// cached under SIGHTLINE_BENCH_CACHE so reruns skip the export; each run registers the model in a fresh home.
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, readFile, readdir, rename, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { z } from "zod";
import type { Runtime } from "../core/config/runtime.ts";
import { versionDataset } from "../core/datasets/version.ts";
import type { PreprocessSpec } from "../core/imaging/preprocess.ts";
import { PRODUCTION, setAliasIn } from "../core/registry/aliases.ts";
import { ModelCardSchema, type ModelCard } from "../core/registry/model-card.ts";
import { registerVersion, type ModelVersion } from "../core/registry/model-version.ts";
import { CLASSES, makeRgbFashion } from "../examples/rgb-fashion/make-dataset.ts";
import { SIGHTLINE_BENCH_CACHE } from "../core/config/settings/tools.ts";

export const RESNET18 = "resnet18";
const HERE = dirname(fileURLToPath(import.meta.url));
const EXPORT_SCRIPT = join(HERE, "peers/resnet18_export.py");
const SEED = 0;
const SIZE = 224;

/** ImageNet's statistics, as torchvision's pretrained ResNets expect; the peer normalises the same way. */
export const RESNET18_SPEC: PreprocessSpec = {
  width: SIZE,
  height: SIZE,
  channels: 3,
  fit: "fill",
  scale: 1 / 255,
  mean: [0.485, 0.456, 0.406],
  std: [0.229, 0.224, 0.225],
  layout: "NCHW",
};

/** What resnet18_export.py prints on its last line. */
const ExportInfoSchema = z.object({
  onnx: z.string(),
  state_dict: z.string(),
  input: z.string(),
  output: z.string(),
  opset: z.number().int(),
  classes: z.number().int().positive(),
  parameters: z.number().int().positive(),
  seed: z.number().int(),
});
export type ExportInfo = z.infer<typeof ExportInfoSchema>;

export interface Resnet18Assets {
  export: ExportInfo;
  /** A dataset folder (dataset.yaml, SPLIT/CLASS/*.jpg) of 224×224 RGB JPEGs. */
  dataset: string;
  /** Every JPEG in it, sorted. */
  images: { path: string; label: string }[];
  /** What had to be built this time (empty: all reused from the cache). */
  built: string[];
}

export function benchCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  return SIGHTLINE_BENCH_CACHE.read(env) ?? join(tmpdir(), "sightline-bench-cache");
}

/** The exported model and the JPEGs, from the cache or built into it (atomically: a folder renamed into place). */
export async function resnet18Assets(cache: string, perClass: number, python: string): Promise<Resnet18Assets> {
  const built: string[] = [];
  await mkdir(cache, { recursive: true });
  const modelDir = join(cache, `resnet18-seed${SEED}`);
  const infoFile = join(modelDir, "export.json");
  const complete = ["export.json", "resnet18.onnx", "resnet18.pt"].every((f) => existsSync(join(modelDir, f)));
  if (!complete) {
    await intoPlace(modelDir, async (tmp) => {
      const run = spawnSync(python, [EXPORT_SCRIPT, tmp, String(SEED), String(CLASSES.length)], { encoding: "utf8" });
      if (run.status !== 0)
        throw new Error(
          `${EXPORT_SCRIPT} failed (${run.status ?? run.signal}): ${(run.stderr || run.error?.message || "").trim().split("\n").slice(-3).join(" | ")}`,
        );
      const info = parseExportInfo(run.stdout, tmp);
      // Paths as they will be once the folder is in place.
      await writeFile(
        join(tmp, "export.json"),
        JSON.stringify({ ...info, onnx: join(modelDir, "resnet18.onnx"), state_dict: join(modelDir, "resnet18.pt") }),
      );
    });
    built.push(`exported ${modelDir}`);
  }
  const info = ExportInfoSchema.parse(JSON.parse(await readFile(infoFile, "utf8")));
  if (info.classes !== CLASSES.length)
    throw new Error(
      `${infoFile}: ${info.classes} classes, expected ${CLASSES.length} (delete ${modelDir} to re-export)`,
    );

  const dataset = join(cache, `rgb-fashion-${SIZE}-jpeg-${perClass}`);
  if (!existsSync(join(dataset, "dataset.yaml"))) {
    await intoPlace(dataset, async (tmp) => {
      await makeRgbFashion({ out: tmp, perClass, size: SIZE, jpegFraction: 1, source: "t10k" });
    });
    built.push(`rendered ${dataset}`);
  }
  return { export: info, dataset, images: await listJpegs(dataset), built };
}

/** The JSON line resnet18_export.py ends with (anything it printed before is ignored). */
export function parseExportInfo(stdout: string, where: string): ExportInfo {
  const last = stdout.trim().split("\n").at(-1) ?? "";
  let raw: unknown;
  try {
    raw = JSON.parse(last);
  } catch {
    throw new Error(`${where}: the export printed no JSON summary (last line: ${JSON.stringify(last.slice(0, 200))})`);
  }
  const parsed = ExportInfoSchema.safeParse(raw);
  if (!parsed.success) throw new Error(`${where}: unexpected export summary: ${z.prettifyError(parsed.error)}`);
  return parsed.data;
}

/**
 * Registers the exported model as resnet18:1 and points `production` at it, the way a trainer's run would be
 * (dataset versioned, ONNX and card stored as blobs, version and alias in one transaction). The weights are random,
 * so there are no metrics to speak of and no drift profile: the card's profile digest names a stub blob that says so.
 */
export async function registerResnet18(
  rt: Runtime,
  assets: Resnet18Assets,
): Promise<{ version: ModelVersion; card: ModelCard }> {
  const dataset = await versionDataset(rt, assets.dataset, { validate: false });
  const model = await rt.blobs.putFile(assets.export.onnx);
  const profile = await rt.blobs.put(
    Buffer.from(JSON.stringify({ schema: "sightline.bench/no-profile", reason: "random weights: bench only" })),
  );
  const runId = `bench-resnet18-seed${assets.export.seed}`;
  const card = ModelCardSchema.parse({
    schema: "sightline.model-card/v1",
    name: RESNET18,
    runId,
    requestId: runId,
    datasetId: dataset.record.id,
    manifestDigest: dataset.record.manifestDigest,
    classes: [...CLASSES],
    preprocessing: RESNET18_SPEC,
    onnx: {
      modelDigest: model.digest,
      opset: assets.export.opset,
      input: assets.export.input,
      outputs: { scores: assets.export.output, kind: "logits" },
    },
    profileDigest: profile.digest,
    architecture: `torchvision resnet18 (${assets.export.parameters} parameters, random weights, seed ${assets.export.seed})`,
    config: { seed: assets.export.seed },
    configHash: `seed-${assets.export.seed}`,
    gitCommit: null,
    image: null,
    metrics: {},
    evaluation: {},
    history: [],
    trainedAt: new Date().toISOString(),
    trainingSeconds: 0,
    imagesPerSecond: 0,
    backend: "torch.onnx.export",
    trainer: {
      kind: "command",
      command: ["python3", "bench/peers/resnet18_export.py"],
      args: { seed: assets.export.seed },
    },
  });
  const cardRef = await rt.blobs.put(Buffer.from(JSON.stringify(card)));
  const version = await registerVersion(
    rt.meta,
    {
      name: RESNET18,
      datasetId: dataset.record.id,
      requestId: runId,
      runId,
      modelDigest: model.digest,
      cardDigest: cardRef.digest,
      profileDigest: null,
      configHash: card.configHash,
      gitCommit: null,
      image: null,
      metrics: {},
    },
    (tx, v) =>
      setAliasIn(tx, {
        name: RESNET18,
        alias: PRODUCTION,
        to: v.version,
        actor: "bench",
        reason: "bench:serve --model resnet18",
      }),
  );
  return { version, card };
}

/** Builds `dest` in a sibling temporary folder and renames it into place, so a failed build leaves nothing behind. */
async function intoPlace(dest: string, build: (tmp: string) => Promise<void>): Promise<void> {
  await rm(dest, { recursive: true, force: true });
  const tmp = await mkdtemp(`${dest}.tmp-`);
  try {
    await build(tmp);
    await rename(tmp, dest);
  } catch (err) {
    await rm(tmp, { recursive: true, force: true });
    throw err;
  }
}

async function listJpegs(root: string): Promise<{ path: string; label: string }[]> {
  const found: { path: string; label: string }[] = [];
  for (const split of (await readdir(root, { withFileTypes: true })).filter((d) => d.isDirectory())) {
    for (const label of await readdir(join(root, split.name))) {
      const files = await readdir(join(root, split.name, label));
      found.push(
        ...files.filter((f) => f.endsWith(".jpg")).map((f) => ({ path: join(root, split.name, label, f), label })),
      );
    }
  }
  return found.sort((a, b) => a.path.localeCompare(b.path));
}
