import { mkdir, mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import sharp from "sharp";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { thumbnail, thumbnailList } from "../../console/server/datasets-read.ts";
import { FsBlobStore } from "../../core/blobs/fs-blob-store.ts";
import { versionDataset } from "../../core/datasets/version.ts";
import { LocalBus } from "../../core/events/local-bus.ts";
import { SqliteStore } from "../../core/meta/sqlite-store.ts";
import { createLogger } from "../../core/telemetry/logger.ts";
import { grayPng } from "../support/datasets.ts";

describe("dataset thumbnails", () => {
  let home: string;
  let deps: { meta: SqliteStore; blobs: FsBlobStore; bus: LocalBus };
  let id: string;
  beforeAll(async () => {
    home = await mkdtemp(join(tmpdir(), "sightline-thumbs-"));
    const dir = join(home, "data");
    await mkdir(join(dir, "big"), { recursive: true });
    await mkdir(join(dir, "odd"), { recursive: true });
    await mkdir(join(dir, "fine"), { recursive: true });
    // Above the decoder's pixel limit (5000 × 5000 = 25 megapixels), though small on disk.
    await writeFile(join(dir, "big", "huge.png"), await grayPng(5000, 5000));
    await writeFile(join(dir, "odd", "broken.png"), Buffer.from("\x89PNG\r\n\x1a\nnot really"));
    await writeFile(join(dir, "fine", "wide.png"), await grayPng(300, 100));
    const db = join(home, "meta.db");
    deps = {
      meta: new SqliteStore(db),
      blobs: new FsBlobStore(join(home, "blobs")),
      bus: new LocalBus(db, { pollMs: 20, logger: createLogger({}, { level: "CRITICAL" }) }),
    };
    // Unvalidated, as `data version --no-validate` allows: what a thumbnail must survive.
    id = (await versionDataset(deps, dir, { validate: false })).record.id;
  }, 60_000);
  afterAll(async () => {
    await deps.bus.close();
    await deps.meta.close();
  });

  it("shrinks an image to at most 96 px a side, keeping its shape", async () => {
    const png = await thumbnail(deps, id, "fine", 0);
    expect(await sharp(png).metadata()).toMatchObject({ format: "png", width: 96, height: 32 });
    expect((await thumbnailList(deps, id, "fine")).images).toEqual([
      { path: "fine/wide.png", url: `/api/datasets/${id}/thumbnails/fine/0` },
    ]);
  });

  it("refuses, as a client error, an image too large to decode and bytes that are no image", async () => {
    await expect(thumbnail(deps, id, "big", 0)).rejects.toMatchObject({
      kind: "invalid",
      code: "thumbnail_undecodable",
    });
    await expect(thumbnail(deps, id, "odd", 0)).rejects.toMatchObject({
      kind: "invalid",
      code: "thumbnail_undecodable",
    });
    await expect(thumbnail(deps, id, "fine", 1)).rejects.toMatchObject({ code: "thumbnail_not_found" });
    await expect(thumbnail(deps, id, "nope", 0)).rejects.toMatchObject({ code: "class_not_found" });
  });
});
