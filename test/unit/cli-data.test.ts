import { existsSync, mkdtempSync } from "node:fs";
import { readdir, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { describe, expect, it } from "vitest";
import { runCli } from "../support/cli.ts";
import { smallDataset } from "../support/datasets.ts";

const FMNIST = "/usr/share/datasets/fashion-mnist";
const haveFmnist = existsSync(join(FMNIST, "t10k-images-idx3-ubyte.gz"));
if (!haveFmnist && process.env.CI === "true")
  throw new Error(`${FMNIST} is missing: .ci/run installs dataset-fashion-mnist`);

describe("sightline data (the real command)", () => {
  const cwd = mkdtempSync(join(tmpdir(), "sightline-cli-"));

  it("versions a folder, prints its id, and reuses it the second time", async () => {
    const dir = await smallDataset();
    const first = await runCli(["data", "version", dir, "--json"], { cwd });
    expect(first.stderr).toBe("");
    expect(first.code).toBe(0);
    const record = JSON.parse(first.stdout) as { id: string; created: boolean; files: number };
    expect(record).toMatchObject({ created: true, files: 24 });
    const second = await runCli(["data", "version", dir], { cwd });
    expect(second.code).toBe(0);
    expect(second.stdout).toContain(`already registered dataset ${record.id}`);
    const byId = await runCli(["data", "validate", record.id], { cwd });
    expect(byId.code).toBe(0);
    expect(byId.stdout).toMatch(/^valid: 24 images, 3 classes/);
  });

  it("exits non-zero naming each file and rule when validation fails", async () => {
    const dir = await smallDataset();
    await writeFile(join(dir, "bag", "broken.png"), "not a png");
    const run = await runCli(["data", "validate", dir], { cwd });
    expect(run.code).toBe(1);
    expect(run.stdout).toMatch(/FAIL decodes/);
    expect(run.stdout).toContain("bag/broken.png");
    expect(run.stderr).toContain("validation failed");
    const version = await runCli(["data", "version", dir], { cwd });
    expect(version.code).toBe(1);
    expect(version.stderr).toContain("nothing was registered");
  });

  it("stops at start with a message naming a wrong setting", async () => {
    const run = await runCli(["data", "validate", "x"], { cwd, env: { SIGHTLINE_META: "mysql://db" } });
    expect(run.code).toBe(78);
    expect(run.stderr).toMatch(/SIGHTLINE_META: unsupported value "mysql:\/\/db"/);
  });

  it("rejects a truncated IDX file with a clear error", async () => {
    const images = join(cwd, "bad-images.idx.gz");
    const header = Buffer.alloc(16);
    header.writeUInt32BE(0x00000803, 0);
    header.writeUInt32BE(5, 4);
    header.writeUInt32BE(28, 8);
    header.writeUInt32BE(28, 12);
    await writeFile(images, gzipSync(Buffer.concat([header, Buffer.alloc(100)])));
    const run = await runCli(["data", "import-idx", "--images", images, "--labels", images, "--out", join(cwd, "x")], {
      cwd,
    });
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/declares 5×28×28 = 3920 bytes of data but holds 100/);
  });

  it.skipIf(!haveFmnist)("imports real Fashion-MNIST IDX files into named class folders", async () => {
    const out = join(cwd, "fmnist");
    const names = "t-shirt,trouser,pullover,dress,coat,sandal,shirt,sneaker,bag,ankle-boot";
    const run = await runCli(
      [
        "data",
        "import-idx",
        "--images",
        join(FMNIST, "t10k-images-idx3-ubyte.gz"),
        "--labels",
        join(FMNIST, "t10k-labels-idx1-ubyte.gz"),
        "--out",
        out,
        "--names",
        names,
        "--per-class",
        "5",
      ],
      { cwd },
    );
    expect(run.code).toBe(0);
    expect(run.stdout).toContain("wrote 50 PNG images");
    expect((await readdir(out)).sort()).toEqual(names.split(",").sort());
    // The first test image of Fashion-MNIST is an ankle boot (label 9).
    expect(await readdir(join(out, "ankle-boot"))).toContain("0000.png");
    const version = await runCli(["data", "validate", out, "--json"], { cwd });
    expect(JSON.parse(version.stdout)).toMatchObject({ ok: true, files: 50 });
  });
});
