import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { loadDataset } from "../../core/datasets/load.ts";
import { Datasets } from "../../core/datasets/version.ts";
import { FsBlobStore } from "../../core/blobs/fs-blob-store.ts";
import { CorruptRecordError } from "../../core/meta/collection.ts";
import { SqliteStore } from "../../core/meta/sqlite-store.ts";
import { getAlias, moveAlias, PRODUCTION } from "../../core/registry/aliases.ts";
import { getVersion, listVersions, versionId, Versions } from "../../core/registry/model-version.ts";
import { GOOD, putDataset, registerTestVersion } from "../support/registry.ts";

const D1 = "1".repeat(64);

// A document changed by hand (or by a buggy older writer) must stop a domain read with a precise error, not flow on
// as a half-typed object.
describe("a corrupt stored record read through the domain", () => {
  let meta: SqliteStore;
  let home: string;
  beforeEach(async () => {
    home = mkdtempSync(join(tmpdir(), "sightline-corrupt-"));
    meta = new SqliteStore(join(home, "meta.db"));
    await putDataset(meta, D1);
  });
  afterEach(async () => {
    await meta.close();
  });

  it("getVersion raises CorruptRecordError naming the collection, the id and the bad field", async () => {
    const v = await registerTestVersion(meta, "fmnist", D1, GOOD);
    const id = versionId("fmnist", v.version);
    const doc = await meta.get(Versions.name, id);
    await meta.put(Versions.name, id, { ...doc!.data, version: "one", metrics: { accuracy: "high" } });

    const err = await getVersion(meta, "fmnist", v.version).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CorruptRecordError);
    expect(err).toMatchObject({
      kind: "corrupt",
      code: "corrupt_record",
      collection: "model_versions",
      id: "fmnist:1",
    });
    const paths = (err as CorruptRecordError).issues.map((i) => i.path.join("."));
    expect(paths).toEqual(expect.arrayContaining(["version", "metrics.accuracy"]));
    expect((err as Error).message).toMatch(/^model_versions\/fmnist:1 is not a valid record/);
    await expect(listVersions(meta, "fmnist")).rejects.toBeInstanceOf(CorruptRecordError);
  });

  it("a record missing a field fails inside a transaction too (moving an alias reads it)", async () => {
    const v = await registerTestVersion(meta, "fmnist", D1, GOOD);
    await moveAlias(meta, {
      name: "fmnist",
      alias: PRODUCTION,
      to: v.version,
      expected: null,
      actor: "t",
      reason: "r",
      action: "alias.set",
    });
    const alias = await meta.get("aliases", "fmnist@production");
    const broken = { ...alias!.data };
    delete broken.version;
    await meta.put("aliases", "fmnist@production", broken);

    await expect(getAlias(meta, "fmnist", PRODUCTION)).rejects.toMatchObject({
      collection: "aliases",
      id: "fmnist@production",
    });
    const moved = moveAlias(meta, {
      name: "fmnist",
      alias: PRODUCTION,
      to: v.version,
      expected: v.version,
      actor: "t",
      reason: "r",
      action: "alias.set",
    });
    await expect(moved).rejects.toBeInstanceOf(CorruptRecordError);
  });

  it("loadDataset refuses a dataset record whose validation is not one it knows", async () => {
    const doc = await meta.get(Datasets.name, D1);
    await meta.put(Datasets.name, D1, { ...doc!.data, validation: "maybe" });
    const blobs = new FsBlobStore(join(home, "blobs"));
    await expect(loadDataset({ blobs, meta }, D1)).rejects.toMatchObject({
      code: "corrupt_record",
      collection: "datasets",
      id: D1,
    });
  });

  it("refuses to write a record its readers would refuse", async () => {
    const v = await registerTestVersion(meta, "fmnist", D1, GOOD);
    await expect(
      Versions.put(meta, versionId("fmnist", v.version), { ...v, datasetId: 7 as unknown as string }),
    ).rejects.toThrow(/refusing to write an invalid record model_versions\/fmnist:1/);
    expect(await getVersion(meta, "fmnist", v.version)).toEqual(v);
  });
});
