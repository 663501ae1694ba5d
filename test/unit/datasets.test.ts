import { mkdtempSync } from "node:fs";
import { appendFile, cp, mkdir, readdir, rename, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { AnyCloudEvent } from "../../core/events/envelope.ts";
import { LocalBus } from "../../core/events/local-bus.ts";
import { FsBlobStore } from "../../core/blobs/fs-blob-store.ts";
import { loadDataset } from "../../core/datasets/load.ts";
import { assignSplit } from "../../core/datasets/split.ts";
import { buildManifest, DATASETS, DatasetInvalidError, versionDataset } from "../../core/datasets/version.ts";
import { SqliteStore } from "../../core/meta/sqlite-store.ts";
import { createLogger } from "../../core/telemetry/logger.ts";
import { waitFor } from "../support/wait.ts";
import { grayPng, smallDataset } from "../support/datasets.ts";

const idOf = async (dir: string): Promise<string> => (await buildManifest(dir)).id;

describe("dataset identity", () => {
  it("gives the same bytes the same id wherever they are", async () => {
    const a = await smallDataset();
    const b = await smallDataset();
    expect(await idOf(a)).toMatch(/^[0-9a-f]{64}$/);
    expect(await idOf(a)).toBe(await idOf(b));
  });

  it("changes the id for one changed byte, a renamed label, a moved file or a changed spec", async () => {
    const base = await idOf(await smallDataset());

    const changed = await smallDataset();
    const some = join(changed, "bag", (await readdir(join(changed, "bag")))[0] as string);
    await appendFile(some, Buffer.from([0]));
    expect(await idOf(changed)).not.toBe(base);

    const relabelled = await smallDataset();
    await rename(join(relabelled, "bag"), join(relabelled, "handbag"));
    expect(await idOf(relabelled)).not.toBe(base);

    const moved = await smallDataset();
    const file = (await readdir(join(moved, "bag")))[0] as string;
    await rename(join(moved, "bag", file), join(moved, "sneaker", file));
    expect(await idOf(moved)).not.toBe(base);

    const specced = await smallDataset();
    await writeFile(join(specced, "dataset.yaml"), "validation: { minPerClass: 2 }\n");
    expect(await idOf(specced)).not.toBe(base);
  });

  it("splits by content hash, so adding files moves no existing file", async () => {
    const dir = await smallDataset({ perClass: 20 });
    const before = new Map((await buildManifest(dir)).manifest.files.map((f) => [f.path, f.split]));
    await cp(join(dir, "bag"), join(dir, "coat"), { recursive: true });
    const after = (await buildManifest(dir)).manifest.files;
    for (const f of after) if (before.has(f.path)) expect(f.split).toBe(before.get(f.path));
    const fractions = { validation: 0.1, test: 0.1 };
    const hashes = Array.from(
      { length: 10_000 },
      (_, i) => ((i * 2654435761) % 2 ** 32).toString(16).padStart(8, "0") + "0".repeat(56),
    );
    const share = (s: string): number =>
      hashes.filter((h) => assignSplit(h, undefined, fractions) === s).length / hashes.length;
    expect(share("test")).toBeCloseTo(0.1, 1);
    expect(share("validation")).toBeCloseTo(0.1, 1);
    expect(assignSplit("f".repeat(64), "test", fractions)).toBe("test");
    expect(assignSplit("0".repeat(64), "train", fractions)).toBe("validation");
  });
});

describe("dataset versioning and validation", () => {
  let home: string;
  let rt: { blobs: FsBlobStore; meta: SqliteStore; bus: LocalBus };
  const events: AnyCloudEvent[] = [];
  beforeAll(async () => {
    home = mkdtempSync(join(tmpdir(), "sightline-home-"));
    rt = {
      blobs: new FsBlobStore(join(home, "blobs")),
      meta: new SqliteStore(join(home, "meta.db")),
      bus: new LocalBus(join(home, "meta.db"), { pollMs: 10, logger: createLogger({}, { level: "CRITICAL" }) }),
    };
    await rt.bus.subscribe("test", ["sightline.dataset.versioned"], async (e) => void events.push(e));
  });
  afterAll(async () => {
    await rt.bus.close();
    await rt.meta.close();
  });

  it("stores blobs and manifest, records the dataset and publishes the event; a second run is a no-op", async () => {
    const dir = await smallDataset({ splits: true });
    const first = await versionDataset(rt, dir);
    expect(first.created).toBe(true);
    expect(first.record).toMatchObject({ files: 48, validation: "passed", classes: ["bag", "sneaker", "trouser"] });
    expect(first.record.splits.test).toBe(24);
    const { manifest } = await loadDataset(rt, first.record.id);
    for (const f of manifest.files) expect(await rt.blobs.has(`sha256:${f.sha256}`)).toBe(true);
    await waitFor(() => events.some((e) => e.subject === first.record.id), "dataset.versioned event");
    const event = events.find((e) => e.subject === first.record.id);
    expect(event?.id).toBe(`dataset.versioned:${first.record.id}`);
    expect(event?.data).toMatchObject({
      datasetId: first.record.id,
      manifestDigest: first.record.manifestDigest,
      files: 48,
    });

    const again = await versionDataset(rt, dir);
    expect(again.created).toBe(false);
    expect(again.record).toEqual(first.record);
  });

  it("refuses an invalid dataset, names each file and rule, and registers nothing", async () => {
    const dir = await smallDataset({ perClass: 8, splits: true });
    await writeFile(join(dir, "train", "bag", "truncated.png"), (await grayPng(28, 28)).subarray(0, 40));
    await writeFile(join(dir, "train", "bag", "text.png"), "this is not an image");
    await writeFile(join(dir, "train", "sneaker", "big.png"), await grayPng(64, 32));
    const leaked = (await readdir(join(dir, "test", "trouser")))[0] as string;
    await cp(join(dir, "test", "trouser", leaked), join(dir, "train", "trouser", `copy-${leaked}`));
    await mkdir(join(dir, "train", "unknown"));
    await writeFile(join(dir, "train", "unknown", "x.png"), await grayPng(28, 28));
    await writeFile(
      join(dir, "dataset.yaml"),
      "classes: [bag, sneaker, trouser]\nimage: { width: 28, height: 28, channels: 1 }\nvalidation: { minPerClass: 20, maxImbalance: 1.05 }\n",
    );

    const before = await rt.meta.query(DATASETS);
    const error = await versionDataset(rt, dir).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DatasetInvalidError);
    const report = (error as DatasetInvalidError).report;
    const rule = (name: string) => report.rules.find((r) => r.rule === name);
    expect(report.ok).toBe(false);
    expect(
      rule("decodes")
        ?.violations.map((v) => v.file)
        .sort(),
    ).toEqual(["train/bag/text.png", "train/bag/truncated.png"]);
    expect(rule("image-spec")?.violations).toEqual([
      { file: "train/sneaker/big.png", message: expect.stringMatching(/64x32x1.*expected 28x28x1/) },
    ]);
    expect(rule("labels")?.violations.map((v) => v.file)).toEqual(["train/unknown/x.png"]);
    expect(rule("min-per-class")?.ok).toBe(false);
    expect(rule("class-imbalance")?.ok).toBe(false);
    expect(
      rule("split-leakage")
        ?.violations.map((v) => v.file)
        .sort(),
    ).toEqual([`test/trouser/${leaked}`, `train/trouser/copy-${leaked}`].sort());
    expect(await rt.meta.query(DATASETS)).toEqual(before);
  });

  it("can register without validation, and says so", async () => {
    const dir = await smallDataset({ classes: ["coat", "dress"], perClass: 3 });
    await writeFile(join(dir, "coat", "broken.png"), "nope");
    const { record } = await versionDataset(rt, dir, { validate: false });
    expect(record.validation).toBe("skipped");
  });
});
