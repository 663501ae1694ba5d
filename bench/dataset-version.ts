// Benchmark: `sightline data version` on the full Fashion-MNIST (70,000 PNGs), twice into fresh homes (the id
// must not change), once more into a home that already has it and once without validation, against a baseline measured in the same run:
// reading and hashing every file, the floor for any content-addressed versioning.
import { existsSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { FsBlobStore } from "../core/blobs/fs-blob-store.ts";
import { importIdx } from "../core/datasets/import-idx.ts";
import { buildManifest, versionDataset } from "../core/datasets/version.ts";
import { LocalBus } from "../core/events/local-bus.ts";
import { SqliteStore } from "../core/meta/sqlite-store.ts";
import { FMNIST_DIR } from "../core/config/settings/tools.ts";

const FMNIST = FMNIST_DIR.read()!;
const NAMES = ["t-shirt", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag", "ankle-boot"];
const DATA = join(tmpdir(), "sightline-bench-fmnist");

if (!existsSync(join(FMNIST, "train-images-idx3-ubyte.gz"))) {
  console.error(`${FMNIST} not found: apt-get install dataset-fashion-mnist`);
  process.exit(1);
}

const seconds = async <T>(fn: () => Promise<T>): Promise<[number, T]> => {
  const t = performance.now();
  const result = await fn();
  return [(performance.now() - t) / 1000, result];
};

if (!existsSync(join(DATA, "test"))) {
  const [s] = await seconds(async () => {
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
  });
  console.log(`import-idx   ${s.toFixed(1)} s (70,000 PNGs, once; cached in ${DATA})`);
}

async function versionInto(home: string, validate = true): Promise<{ id: string; files: number }> {
  const rt = {
    blobs: new FsBlobStore(join(home, "blobs")),
    meta: new SqliteStore(join(home, "meta.db")),
    bus: new LocalBus(join(home, "meta.db")),
  };
  try {
    const { record } = await versionDataset(rt, DATA, { validate });
    return { id: record.id, files: record.files };
  } finally {
    await rt.bus.close();
    await rt.meta.close();
  }
}

const [baseline, manifest] = await seconds(() => buildManifest(DATA));
const homeA = await mkdtemp(join(tmpdir(), "sightline-bench-a-"));
const homeB = await mkdtemp(join(tmpdir(), "sightline-bench-b-"));
const [first, a] = await seconds(() => versionInto(homeA));
const [second, b] = await seconds(() => versionInto(homeB));
const [again, c] = await seconds(() => versionInto(homeA));
const homeC = await mkdtemp(join(tmpdir(), "sightline-bench-c-"));
const [unvalidated] = await seconds(() => versionInto(homeC, false));
await rm(homeC, { recursive: true, force: true });
await rm(homeA, { recursive: true, force: true });
await rm(homeB, { recursive: true, force: true });

const deterministic = a.id === b.id && b.id === c.id && a.id === manifest.id;
console.log(`files        ${a.files}`);
console.log(`baseline     ${baseline.toFixed(1)} s  read + sha256 of every file`);
console.log(
  `version #1   ${first.toFixed(1)} s  fresh home (validate, store, register)  ratio ${(first / baseline).toFixed(2)}× baseline`,
);
console.log(
  `version #2   ${second.toFixed(1)} s  another fresh home                     ratio ${(second / baseline).toFixed(2)}× baseline`,
);
console.log(
  `version #3   ${again.toFixed(1)} s  home that has it already               ratio ${(again / baseline).toFixed(2)}× baseline`,
);
console.log(
  `--no-validate ${unvalidated.toFixed(1)} s  fresh home, store and register only     ratio ${(unvalidated / baseline).toFixed(2)}× baseline`,
);
console.log(`dataset id   ${a.id}  ${deterministic ? "identical in every run" : `DIFFERS: ${a.id} ${b.id} ${c.id}`}`);
console.log(`target       under 60 s on 2 cores: ${Math.max(first, second) < 60 ? "met" : "MISSED"}`);
if (!deterministic) process.exit(1);
