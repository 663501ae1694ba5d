import { chmod, readFile, writeFile } from "node:fs/promises";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadDataset } from "../../core/datasets/load.ts";
import type { RunEvent } from "../../core/lineage/openlineage.ts";
import { runCli } from "../support/cli.ts";
import { startOpenLineageSink } from "../support/openlineage-sink.ts";
import { lineageWorld, MODEL, type LineageWorld } from "../support/lineage-world.ts";
import { openLineageValidator } from "../support/openlineage-schema.ts";

describe("sightline lineage (the real command)", () => {
  let w: LineageWorld;
  let env: Record<string, string>;
  const cli = (...args: string[]) => runCli(["lineage", ...args], { cwd: w.home, env });

  beforeAll(async () => {
    // Events are only published: the first command must catch up on the lineage subscription itself.
    w = await lineageWorld();
    env = { SIGHTLINE_HOME: w.home };
  });
  afterAll(async () => w.close());

  it("prints a model's lineage as a tree after catching up on the published events", async () => {
    // Catching up, the command is the lineage consumer: what it records first goes to the OpenLineage server too.
    const sink = await startOpenLineageSink();
    const run = await runCli(["lineage", "model", `${MODEL}:1`], {
      cwd: w.home,
      env: { ...env, SIGHTLINE_OPENLINEAGE_URL: sink.url },
    });
    await sink.close();
    expect(run.stderr).toBe("");
    expect(run.code).toBe(0);
    // Deliveries are handled concurrently, so the sink sees each run's events, not a global order.
    const sent = sink.requests
      .map((r) => r.body as RunEvent)
      .map(
        (e) =>
          `${e.eventType} ${e.run.facets.sightline_request?.requestId ?? e.run.facets.sightline_training?.requestId}`,
      );
    expect(sent.sort()).toEqual([
      "COMPLETE req-1",
      "COMPLETE req-3",
      "FAIL req-2",
      "START req-1",
      "START req-2",
      "START req-3",
    ]);
    const out = run.stdout;
    expect(out).toMatch(/^model fashion:1\n/);
    expect(out).toContain(`dataset ${w.dataset.id}`);
    expect(out).toContain(`manifest ${w.dataset.manifestDigest}`);
    expect(out).toContain("run run-1 (completed");
    expect(out).toContain("config hash cfg-req-1");
    expect(out).toContain("git commit 9f1c2e4");
    expect(out).toContain("metrics accuracy=0.8, macro_f1=0.79");
    expect(out).toContain("alias moves: 3");
    expect(out).toMatch(/rolled_back fashion@production 2 → 1 by alice: complaints/);
    expect(out).toMatch(/fashion:1:1: DRIFT, severity 0.6, features brightness/);
  });

  it("answers --json for a model, a prediction and a dataset; NAME@ALIAS resolves through the registry", async () => {
    const model = JSON.parse((await cli("model", `${MODEL}:2`, "--json")).stdout) as {
      model: { version: number };
      run: { runId: string };
    };
    expect(model).toMatchObject({ model: { version: 2 }, run: { runId: "run-3" } });
    const prediction = await cli("prediction", "pred-c", "--format", "json");
    expect(prediction.code).toBe(0);
    expect(JSON.parse(prediction.stdout)).toMatchObject({
      prediction: { requestId: "pred-c" },
      lineage: { model: { version: 1 }, dataset: { datasetId: w.dataset.id } },
    });
    const dataset = await cli("dataset", w.dataset.id);
    expect(dataset.code).toBe(0);
    expect(dataset.stdout).toContain("runs: 3");
    expect(dataset.stdout).toContain("run-2 failed");
    expect(dataset.stdout).toContain("model versions: 2");
  });

  it("prints OpenLineage RunEvents that validate against the 2-0-2 schema, and exports them over HTTP", async () => {
    const run = await cli("dataset", w.dataset.id, "--format", "openlineage");
    expect(run.code).toBe(0);
    const events = JSON.parse(run.stdout) as RunEvent[];
    expect(events.map((e) => e.eventType)).toEqual(["START", "COMPLETE", "START", "FAIL", "START", "COMPLETE"]);
    const validate = openLineageValidator();
    for (const e of events) expect(validate(e), JSON.stringify(validate.errors)).toBe(true);

    const received: RunEvent[] = [];
    const server = createServer((req, res) => {
      let body = "";
      req.on("data", (c: Buffer) => (body += c.toString()));
      req.on("end", () => {
        if (req.url === "/api/v1/lineage") received.push(JSON.parse(body) as RunEvent);
        res.writeHead(req.url === "/api/v1/lineage" ? 201 : 404).end();
      });
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    try {
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      const exported = await runCli(["lineage", "model", `${MODEL}:1`, "--format", "openlineage", "--export"], {
        cwd: w.home,
        env: { ...env, SIGHTLINE_OPENLINEAGE_URL: url },
      });
      expect(exported.stderr).toBe("");
      expect(exported.stdout.trim()).toBe(`exported 2 RunEvents to ${url}/api/v1/lineage`);
      expect(received.map((e) => e.eventType)).toEqual(["START", "COMPLETE"]);
    } finally {
      server.close();
    }
    const missing = await cli("model", `${MODEL}:1`, "--format", "openlineage", "--export");
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain("--export needs SIGHTLINE_OPENLINEAGE_URL");
  });

  it("verifies a model's lineage, and exits 1 naming the tampered file", async () => {
    const ok = await cli("verify", `${MODEL}:1`);
    expect(ok.stderr).toBe("");
    expect(ok.code).toBe(0);
    expect(ok.stdout).toMatch(/^verified: model fashion:1/);
    expect(ok.stdout).toMatch(/ok {3}dataset files +dataset /);

    const { manifest } = await loadDataset(w, w.dataset.id);
    const victim = manifest.files[0];
    if (!victim) throw new Error("empty dataset");
    const path = join(w.home, "blobs", "sha256", victim.sha256.slice(0, 2), victim.sha256);
    const original = await readFile(path);
    await chmod(path, 0o644); // blob files are read-only
    await writeFile(path, Buffer.from("not the image any more"));
    try {
      const bad = await cli("verify", `${MODEL}:1`);
      expect(bad.code).toBe(1);
      expect(bad.stdout).toMatch(/^VERIFY FAILED: model fashion:1/);
      expect(bad.stdout).toMatch(
        new RegExp(
          `FAIL dataset file +${victim.path.replace(".", "\\.")} \\(file://.*/blobs/sha256/${victim.sha256.slice(0, 2)}/${victim.sha256}\\)`,
        ),
      );
      expect(bad.stderr).toContain(
        `does not match the stored data: dataset files dataset ${w.dataset.id}; dataset file ${victim.path}`,
      );
    } finally {
      await writeFile(path, original);
    }
  });

  it("exits 1 with a clear message for what is not there", async () => {
    const model = await cli("model", `${MODEL}:7`);
    expect(model.code).toBe(1);
    expect(model.stderr).toContain("model fashion:7 has no lineage record");
    const prediction = await cli("prediction", "no-such-request");
    expect(prediction.code).toBe(1);
    expect(prediction.stderr).toContain("prediction request no-such-request has no lineage record");
    const dataset = await cli("dataset", "f".repeat(64));
    expect(dataset.code).toBe(1);
    expect(dataset.stderr).toContain("has no lineage record");
    const verify = await cli("verify", "other:1");
    expect(verify.code).toBe(1);
    expect(verify.stderr).toContain("model other:1 is neither registered nor in the lineage graph");
    const bad = await cli("model", "Not A Ref");
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain("is not NAME, NAME@ALIAS or NAME:VERSION");
  });
});
