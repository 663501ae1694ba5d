/**
 * The trainer contract's run on this machine (trainer/contract/run.ts): a bring-your-own trainer, here a tiny real
 * Node program (test/support/contract-trainer.ts) that writes a real ONNX model, is staged a real dataset (a subset
 * of data/sample), run as a child process with the contract's environment, followed through metrics.jsonl, and its
 * output checked, evaluated and registered — or refused with `sightline.training.failed` and nothing registered.
 * Every assertion looks at the stores and the bus, not only at what runContractTraining returns or throws.
 */
import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, isAbsolute, join, relative, sep } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadConfig } from "../../core/config/config.ts";
import { openRuntime, type Runtime } from "../../core/config/runtime.ts";
import { stageDataset } from "../../core/datasets/stage.ts";
import { parseProfile } from "../../core/drift/profile.ts";
import { judgeWindow, type PredictionRecord } from "../../core/drift/verdict.ts";
import { versionDataset, type DatasetRecord } from "../../core/datasets/version.ts";
import { catchUp } from "../../core/events/catch-up.ts";
import type { AnyCloudEvent } from "../../core/events/envelope.ts";
import type { EventType } from "../../core/events/schemas.ts";
import { getRun, RUNS, type RunRecord } from "../../core/jobs/run-record.ts";
import {
  MetricsLineSchema,
  runLayout,
  TRAINER_ENV_NAMES,
  TrainerEnvSchema,
  VertexImageLineSchema,
  type MetricsLine,
  type TrainerArgs,
} from "../../core/jobs/trainer-contract.ts";
import { TrainerDefinitionSchema } from "../../core/jobs/trainers.ts";
import { CANDIDATE, getAlias, moveAlias, PRODUCTION } from "../../core/registry/aliases.ts";
import { parseModelCard } from "../../core/registry/model-card.ts";
import { listVersions, type ModelVersion } from "../../core/registry/model-version.ts";
import { createLogger } from "../../core/telemetry/logger.ts";
import { runContractTraining, type ContractHooks } from "../../trainer/contract/run.ts";
import { smallDataset } from "../support/datasets.ts";
import { GOOD, registerTestVersion } from "../support/registry.ts";
import { waitFor } from "../support/wait.ts";

const TRAINER = fileURLToPath(new URL("../support/contract-trainer.ts", import.meta.url));
const CLI = fileURLToPath(new URL("../../cli/sightline.ts", import.meta.url));
const CLASSES = ["ankle-boot", "bag", "coat", "dress", "pullover", "sandal", "shirt", "sneaker", "t-shirt", "trouser"];
const SUB = "trainer-contract-test";
const TYPES: EventType[] = ["sightline.training.completed", "sightline.training.failed"];
/** A model that has a version and a candidate before the bad trainers run, so "unchanged" means something. */
const BAD = "bad";

type TrainingEvent = Extract<AnyCloudEvent, { type: "sightline.training.completed" | "sightline.training.failed" }>;
const isTraining = (e: AnyCloudEvent): e is TrainingEvent =>
  e.type === "sightline.training.completed" || e.type === "sightline.training.failed";
const sha256 = (b: Uint8Array): string => createHash("sha256").update(b).digest("hex");
const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code !== "ESRCH";
  }
};

describe("trainer contract: a bring-your-own trainer run", { timeout: 30_000 }, () => {
  const cwd = mkdtempSync(join(tmpdir(), "sightline-contract-"));
  const home = join(cwd, "home");
  let rt: Runtime;
  let datasetId: string;
  let dataset: DatasetRecord;
  /** The dataset's source files by content hash: what every staged file must be a copy of. */
  const sources = new Map<string, { label: string; split: string }>();
  const events: TrainingEvent[] = [];
  let dir: string | undefined;

  beforeAll(async () => {
    rt = await openRuntime(loadConfig({ SIGHTLINE_HOME: home }, cwd), createLogger({}, { level: "CRITICAL" }));
    await rt.bus.ensureSubscription(SUB, TYPES);
    dir = await smallDataset({ classes: CLASSES, perClass: 12, splits: true });
    for (const split of readdirSync(dir)) {
      for (const label of readdirSync(join(dir, split))) {
        for (const f of readdirSync(join(dir, split, label)))
          sources.set(sha256(readFileSync(join(dir, split, label, f))), { label, split });
      }
    }
    ({ record: dataset } = await versionDataset(rt, dir));
    datasetId = dataset.id;
    await registerTestVersion(rt.meta, BAD, datasetId, GOOD);
    await moveAlias(rt.meta, {
      name: BAD,
      alias: CANDIDATE,
      to: 1,
      expected: null,
      actor: "tester",
      reason: "setup",
      action: "alias.set",
    });
  }, 60_000);
  afterAll(async () => {
    await rt?.close();
    for (const d of [cwd, dir]) if (d) rmSync(d, { recursive: true, force: true });
  });

  /** Every training event published so far (the subscription hands each over once; they are kept here). */
  async function published(): Promise<TrainingEvent[]> {
    await catchUp(rt.bus, SUB, TYPES, async (e) => void (isTraining(e) && events.push(e)), { idleMs: 100 });
    return events;
  }

  async function runOf(requestId: string): Promise<RunRecord> {
    const docs = await rt.meta.query(RUNS, { where: [{ field: "requestId", op: "==", value: requestId }] });
    expect(docs, `run records of ${requestId}`).toHaveLength(1);
    const run = await getRun(rt.meta, docs[0]!.id);
    if (!run) throw new Error(`no run record for ${requestId}`);
    return run;
  }

  let requests = 0;
  function train(o: {
    model: string;
    args: TrainerArgs;
    requestId?: string;
    fineTune?: boolean;
    timeout?: number;
    command?: string[];
    hooks?: ContractHooks;
  }) {
    const trainer = TrainerDefinitionSchema.parse({
      command: o.command ?? [process.execPath, TRAINER],
      cwd,
      timeout: o.timeout ?? 60,
    });
    return runContractTraining(
      rt,
      {
        requestId: o.requestId ?? `req-${++requests}`,
        model: o.model,
        datasetId,
        actor: "tester",
        trainer,
        args: o.args,
        seed: 42,
        fineTune: o.fineTune ?? false,
        home,
      },
      o.hooks,
    );
  }

  let good: { version: ModelVersion; runId: string } | undefined;

  it("registers a good trainer's model as candidate, with its identity, interface, streamed metrics and the platform's own accuracy", async () => {
    const requestId = "req-good";
    const gate = join(cwd, "gate-good");
    const seen: MetricsLine[] = [];
    let whileRunning: { record: RunRecord; modelWritten: boolean } | undefined;
    let streaming: Promise<unknown> = Promise.resolve();
    const hooks: ContractHooks = {
      onMetrics: (line) => {
        seen.push(line);
        if (seen.length !== 1) return;
        // The trainer is blocked until the gate exists: this line was streamed while it runs, into the record too.
        streaming = (async () => {
          await waitFor(
            async () => (await runOf(requestId).catch(() => undefined))?.metrics.length === 1,
            "the first metric line in the run record",
          );
          const record = await runOf(requestId);
          whileRunning = { record, modelWritten: existsSync(join(home, "runs", record.runId, "model", "model.onnx")) };
          writeFileSync(gate, "go");
        })().catch((err: unknown) => err);
      },
    };
    const result = await train({ model: "good", requestId, args: { mode: "good", gate }, hooks });
    const { version, card, runId } = result;
    good = { version, runId };
    expect(await streaming).toBeUndefined();

    expect(whileRunning?.record).toMatchObject({ status: "running", metrics: [{ epoch: 1, step: 1, loss: 2.25 }] });
    expect(whileRunning?.modelWritten).toBe(false);

    expect(version).toMatchObject({ name: "good", version: 1, datasetId, requestId, runId });
    expect(await listVersions(rt.meta, "good")).toHaveLength(1);
    expect((await getAlias(rt.meta, "good", CANDIDATE))?.version).toBe(1);
    expect(await getAlias(rt.meta, "good", PRODUCTION)).toBeUndefined();

    const stored = parseModelCard(await rt.blobs.get(version.cardDigest), version.cardDigest);
    expect(stored).toEqual(card);
    expect(stored.trainer).toEqual({
      kind: "command",
      command: [process.execPath, TRAINER],
      cwd,
      args: { mode: "good", gate },
    });
    expect(stored.config).toMatchObject({ trainer: stored.trainer });
    expect(stored.preprocessing).toEqual({
      width: 28,
      height: 28,
      channels: 1,
      layout: "NCHW",
      fit: "fill",
      scale: 1 / 255,
      mean: [0],
      std: [1],
    });
    expect(stored.onnx).toMatchObject({
      input: "pixels",
      opset: 13,
      embeddingDim: 16,
      modelDigest: version.modelDigest,
      outputs: { scores: "logits", kind: "logits", embedding: "features" },
    });
    expect(stored.onnx.outputs).toEqual({ scores: "logits", kind: "logits", embedding: "features" });
    expect(stored.classes).toEqual(CLASSES);
    expect(stored.parentVersion).toBeUndefined();
    // The registered ONNX file is the one the trainer wrote.
    expect(`sha256:${sha256(readFileSync(join(home, "runs", runId, "model", "model.onnx")))}`).toBe(
      version.modelDigest,
    );

    const lines = [
      { epoch: 1, step: 1, loss: 2.25 },
      { epoch: 1, step: 2, loss: 1.5 },
      expect.objectContaining({ epoch: 1, step: 3 }),
    ];
    const record = await runOf(requestId);
    expect(record).toMatchObject({
      runId,
      status: "succeeded",
      version: 1,
      model: "good",
      datasetId,
      invalidMetricLines: 0,
      metrics: lines,
      trainer: stored.trainer,
    });
    expect(record.finishedAt).toBeDefined();
    expect(record.reason).toBeUndefined();
    expect(seen).toEqual(record.metrics);
    expect(stored.history).toEqual(record.metrics);

    // The trainer's own test accuracy, on the test split it read through AIP_TEST_DATA_URI, is what the platform
    // measured through the serving preprocessing; and well above chance (0.1).
    const own = record.metrics.at(-1)!;
    expect(own.test_images).toBe(dataset.splits.test);
    expect(version.metrics.accuracy).toBeCloseTo(own.test_accuracy!, 12);
    expect(version.metrics.accuracy).toBeGreaterThan(0.5);

    const completed = (await published()).filter(
      (e) => e.type === "sightline.training.completed" && e.data.requestId === requestId,
    );
    expect(completed).toHaveLength(1);
    expect(completed[0]?.data).toMatchObject({
      runId,
      model: "good",
      version: 1,
      datasetId,
      modelDigest: version.modelDigest,
      cardDigest: version.cardDigest,
      metrics: version.metrics,
    });
    expect(events.some((e) => e.type === "sightline.training.failed" && e.data.requestId === requestId)).toBe(false);
  });

  it("gives the trainer the contract's environment, the staged data as Vertex JSONL and folders, and nothing of Sightline's own", async () => {
    const dump = join(cwd, "env-plain.json");
    const args = { mode: "fixed", dump, lr: 0.5, verbose: true, label: "two words" };
    const saved = { ...process.env };
    // What a parent process may carry: the stores' settings and stale contract values must not reach the trainer.
    Object.assign(process.env, {
      SIGHTLINE_META: "sqlite:///nowhere.db",
      SIGHTLINE_BLOBS: "file:///nowhere",
      SIGHTLINE_BUS: "local:///nowhere.db",
      SIGHTLINE_HOME: "/nowhere",
      AIP_MODEL_DIR: "/stale",
      SIGHTLINE_INIT_MODEL: "/stale/model.onnx",
    });
    let runId: string;
    try {
      ({ runId } = await train({ model: "env", args }));
    } finally {
      for (const k of Object.keys(process.env)) if (!(k in saved)) delete process.env[k];
      Object.assign(process.env, saved);
    }
    const seen = JSON.parse(readFileSync(dump, "utf8")) as { env: Record<string, string>; argv: string[] };
    const { env } = seen;

    for (const name of TRAINER_ENV_NAMES.filter((n) => n !== "SIGHTLINE_INIT_MODEL"))
      expect(env[name], name).toBeTruthy();
    expect(env.SIGHTLINE_INIT_MODEL).toBeUndefined();
    const contract = TrainerEnvSchema.parse(Object.fromEntries(TRAINER_ENV_NAMES.map((n) => [n, env[n]])));
    for (const k of Object.keys(env).filter((k) => k.startsWith("SIGHTLINE_") || k.startsWith("AIP_")))
      expect(TRAINER_ENV_NAMES, `${k} leaked to the trainer`).toContain(k);
    for (const k of ["SIGHTLINE_META", "SIGHTLINE_BLOBS", "SIGHTLINE_BUS", "SIGHTLINE_HOME"])
      expect(env[k], k).toBeUndefined();
    expect(env.PATH).toBe(process.env.PATH); // the rest of the environment is inherited

    const layout = runLayout(join(home, "runs", runId), join(home, "staged", datasetId));
    expect(contract).toMatchObject({
      AIP_MODEL_DIR: layout.modelDir,
      AIP_CHECKPOINT_DIR: layout.checkpointDir,
      AIP_TENSORBOARD_LOG_DIR: layout.tensorboardDir,
      AIP_DATA_FORMAT: "jsonl",
      SIGHTLINE_DATA_DIR: layout.dataDir,
      SIGHTLINE_CLASSES: CLASSES,
      SIGHTLINE_SEED: 42,
      SIGHTLINE_ARGS: args,
      SIGHTLINE_RUN_ID: runId,
    });
    for (const k of ["AIP_MODEL_DIR", "AIP_CHECKPOINT_DIR", "AIP_TENSORBOARD_LOG_DIR", "SIGHTLINE_DATA_DIR"] as const)
      expect(isAbsolute(contract[k]), k).toBe(true);
    expect(seen.argv).toEqual([
      "--mode",
      "fixed",
      "--dump",
      dump,
      "--lr",
      "0.5",
      "--verbose",
      "true",
      "--label",
      "two words",
    ]);

    // One JSONL line per image of each split, in Vertex's format, naming staged copies of the dataset's files.
    const uris = {
      train: contract.AIP_TRAINING_DATA_URI,
      validation: contract.AIP_VALIDATION_DATA_URI,
      test: contract.AIP_TEST_DATA_URI,
    };
    const staged = new Set<string>();
    const covered = new Map<string, string>();
    for (const [split, uri] of Object.entries(uris)) {
      expect(uri).toMatch(/^file:\/\/\//);
      const lines = readFileSync(fileURLToPath(uri), "utf8").split("\n");
      expect(lines.pop(), `${split}.jsonl ends with a newline`).toBe("");
      expect(lines, split).toHaveLength(dataset.splits[split] ?? 0);
      expect(lines.length, split).toBeGreaterThan(0);
      for (const text of lines) {
        const line = JSON.parse(text) as Record<string, unknown>;
        expect(line).toEqual(VertexImageLineSchema.strict().parse(line));
        expect(Object.keys(line.classificationAnnotation as object)).toEqual(["displayName"]);
        const { imageGcsUri, classificationAnnotation } = VertexImageLineSchema.parse(line);
        expect(imageGcsUri).toMatch(/^file:\/\/\//);
        const path = fileURLToPath(imageGcsUri);
        expect(relative(contract.SIGHTLINE_DATA_DIR, path).split(sep).slice(0, 2)).toEqual([
          split,
          classificationAnnotation.displayName,
        ]);
        const source = sources.get(sha256(readFileSync(path)));
        expect(source, `${path} is a file of the dataset`).toBeDefined();
        expect(source?.label).toBe(classificationAnnotation.displayName);
        // Declared test images stay in test; the validation split is carved out of the declared train images.
        expect(source?.split).toBe(split === "test" ? "test" : "train");
        covered.set(sha256(readFileSync(path)), split);
        staged.add(path);
      }
    }
    expect(covered.size).toBe(sources.size);
    expect(staged.size).toBe(dataset.files);

    // SIGHTLINE_DATA_DIR holds SPLIT/CLASS/IMAGE: exactly the files the JSONL lines name.
    const onDisk = new Set<string>();
    for (const split of ["train", "validation", "test"]) {
      expect(readdirSync(join(contract.SIGHTLINE_DATA_DIR, split)).sort()).toEqual(CLASSES);
      for (const c of CLASSES)
        for (const f of readdirSync(join(contract.SIGHTLINE_DATA_DIR, split, c)))
          onDisk.add(join(contract.SIGHTLINE_DATA_DIR, split, c, f));
    }
    expect(onDisk).toEqual(staged);
    expect((await runOf((await listVersions(rt.meta, "env"))[0]!.requestId)).status).toBe("succeeded");
  });

  it("fine-tunes from production: SIGHTLINE_INIT_MODEL holds production's ONNX bytes and the card names the parent", async () => {
    if (!good) throw new Error("the first test registers good:1");
    await moveAlias(rt.meta, {
      name: "good",
      alias: PRODUCTION,
      to: 1,
      expected: null,
      actor: "tester",
      reason: "test",
      action: "promotion",
    });
    const dump = join(cwd, "env-fine-tune.json");
    const { version, card, runId } = await train({ model: "good", args: { mode: "fine-tune", dump }, fineTune: true });
    const { env } = JSON.parse(readFileSync(dump, "utf8")) as { env: Record<string, string> };
    const contract = TrainerEnvSchema.parse(Object.fromEntries(TRAINER_ENV_NAMES.map((n) => [n, env[n]])));
    expect(contract.SIGHTLINE_INIT_MODEL).toBe(runLayout(join(home, "runs", runId)).initModel);
    const production = await rt.blobs.get(good.version.modelDigest);
    expect(Buffer.compare(readFileSync(contract.SIGHTLINE_INIT_MODEL!), production)).toBe(0);
    // The trainer started from (here: kept) those weights.
    expect(version.modelDigest).toBe(good.version.modelDigest);
    expect(version.version).toBe(2);
    expect(card.parentVersion).toBe(1);
    expect(parseModelCard(await rt.blobs.get(version.cardDigest), version.cardDigest).parentVersion).toBe(1);
    expect(await runOf(version.requestId)).toMatchObject({ status: "succeeded", parentVersion: 1, version: 2 });
    expect((await getAlias(rt.meta, "good", CANDIDATE))?.version).toBe(2);
    expect((await getAlias(rt.meta, "good", PRODUCTION))?.version).toBe(1);
  });

  describe("a trainer that fails or writes no usable model registers nothing and reports why", () => {
    async function expectRefused(o: {
      name: string;
      args: TrainerArgs;
      reason: RegExp;
      fineTune?: boolean;
      timeout?: number;
      command?: string[];
    }): Promise<RunRecord> {
      const before = { versions: await listVersions(rt.meta, BAD), candidate: await getAlias(rt.meta, BAD, CANDIDATE) };
      const requestId = `req-bad-${o.name}`;
      await expect(train({ model: BAD, requestId, ...o })).rejects.toThrow(o.reason);

      expect(await listVersions(rt.meta, BAD)).toEqual(before.versions);
      expect(await getAlias(rt.meta, BAD, CANDIDATE)).toEqual(before.candidate);
      const mine = (await published()).filter((e) => e.data.requestId === requestId);
      expect(mine.map((e) => e.type)).toEqual(["sightline.training.failed"]);
      const failed = mine[0]!;
      if (failed.type !== "sightline.training.failed") throw new Error("unreachable");
      expect(failed.data.reason).toMatch(o.reason);
      const record = await runOf(requestId);
      expect(record).toMatchObject({
        status: "failed",
        reason: failed.data.reason,
        runId: failed.data.runId,
        model: BAD,
      });
      expect(record.finishedAt).toBeDefined();
      expect(record.version).toBeUndefined();
      return record;
    }

    it.each([
      { name: "no-model", reason: /wrote no model\.onnx/ },
      { name: "garbage", reason: /model\.onnx is not an ONNX model/ },
      { name: "seven", reason: /output logits has 7 values per image; the dataset has 10 classes/ },
      { name: "nan", reason: /output logits holds values that are not finite numbers/ },
      { name: "no-interface", reason: /wrote no sightline\.json/ },
      { name: "wrong-output", reason: /sightline\.json names output probs; model\.onnx has outputs logits, features/ },
      { name: "fake-probabilities", reason: /output logits is declared "probabilities" but a row sums to/ },
    ])("$name", async ({ name, reason }) => {
      await expectRefused({ name, args: { mode: name }, reason });
    });

    it("exits non-zero: the reason has the exit code and the trainer's last log line", async () => {
      const record = await expectRefused({
        name: "fail",
        args: { mode: "fail" },
        reason: /the trainer exited with code 3: ValueError: learning rate must be positive \(log: /,
      });
      expect(readFileSync(record.log!, "utf8")).toContain("Traceback (most recent call last):");
    });

    it("runs past its timeout: stopped within seconds and reported as timed out", async () => {
      const started = Date.now();
      const record = await expectRefused({
        name: "timeout",
        args: { mode: "sleep" },
        timeout: 1,
        reason: /ran past its timeout of 1 s and was stopped/,
      });
      expect(Date.now() - started).toBeLessThan(10_000);
      const pidFile = join(dirname(record.log!), "checkpoints", "trainer.pid");
      const pid = Number(readFileSync(pidFile, "utf8"));
      expect(pid).toBeGreaterThan(0);
      expect(alive(pid)).toBe(false);
      // From the trainer's start to the failed record: about the 1 s timeout, far from its 30 s sleep (or the 10 s
      // grace before SIGKILL, which a trainer that dies on SIGTERM does not need).
      expect(Date.parse(record.finishedAt!) - statSync(pidFile).mtimeMs).toBeLessThan(4000);
    });

    it("names a command that does not exist", async () => {
      await expectRefused({
        name: "enoent",
        args: {},
        command: [join(cwd, "no-such-trainer")],
        reason: /cannot start trainer ".*no-such-trainer".*ENOENT/,
      });
    });

    it("fine-tunes a model that has no production version", async () => {
      await expectRefused({
        name: "no-production",
        args: { mode: "fine-tune" },
        fineTune: true,
        reason: /bad@production is not registered/,
      });
    });
  });

  it("leaves nothing registered and no trainer running when the harness is stopped (SIGTERM) mid-run", async () => {
    const ready = join(cwd, "ready-killed");
    const command = `${JSON.stringify(process.execPath)} ${JSON.stringify(TRAINER)}`;
    const child = spawn(
      process.execPath,
      [
        CLI,
        "train",
        "--dataset",
        datasetId,
        "--model",
        "killed",
        "--command",
        command,
        "--arg",
        "mode=model-then-sleep",
        "--arg",
        `ready=${ready}`,
      ],
      {
        cwd,
        env: { ...process.env, SIGHTLINE_HOME: home, SIGHTLINE_ACTOR: "tester", CI: "true" },
        stdio: ["ignore", "ignore", "pipe"],
      },
    );
    let stderr = "";
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
      child.once("exit", (code, signal) => resolve({ code, signal })),
    );
    await waitFor(() => existsSync(ready) || child.exitCode !== null, "the trainer to write its model", 20_000);
    expect(existsSync(ready), stderr).toBe(true);
    const trainerPid = Number(readFileSync(ready, "utf8"));
    expect(alive(trainerPid)).toBe(true);

    child.kill("SIGTERM");
    const started = Date.now();
    const exit = await exited;
    expect(Date.now() - started).toBeLessThan(5000);
    expect(exit.code).not.toBe(0);
    expect(alive(trainerPid)).toBe(false);

    expect(await listVersions(rt.meta, "killed")).toEqual([]);
    expect(await getAlias(rt.meta, "killed", CANDIDATE)).toBeUndefined();
    const runs = await rt.meta.query(RUNS, { where: [{ field: "model", op: "==", value: "killed" }] });
    expect(runs).toHaveLength(1);
    const record = await getRun(rt.meta, runs[0]!.id);
    expect(record).toMatchObject({ status: "failed", reason: expect.stringContaining("killed by SIGTERM") });
    // The model the trainer wrote is there, unregistered.
    expect(existsSync(join(home, "runs", record!.runId, "model", "model.onnx"))).toBe(true);
    const failed = (await published()).filter((e) => e.data.model === "killed");
    expect(failed.map((e) => e.type)).toEqual(["sightline.training.failed"]);
    expect(failed[0]?.data).toMatchObject({ runId: record!.runId, reason: record!.reason });
  });

  it("registers a model that declares no embedding: its profile has none, and drift skips that test and says why", async () => {
    const { version } = await train({ model: "no-embedding", args: { mode: "no-embedding" } });
    const card = parseModelCard(await rt.blobs.get(version.cardDigest), "no-embedding:1");
    expect(card.onnx.outputs).toEqual({ scores: "logits", kind: "logits" });
    expect(card.onnx.embeddingDim).toBeUndefined();
    const profile = parseProfile(await rt.blobs.get(version.profileDigest!));
    expect(profile.embeddings).toBeUndefined();
    const records: PredictionRecord[] = Array.from({ length: 300 }, (_, i) => ({
      requestId: `r-${i}`,
      time: new Date(Date.UTC(2026, 11, 2, 0, 0, i)).toISOString(),
      label: CLASSES[i % CLASSES.length]!,
      index: i % CLASSES.length,
      confidence: 0.5,
      features: Object.fromEntries(
        Object.keys(profile.features).map((f) => [
          f,
          profile.features[f]!.sample[i % profile.features[f]!.sample.length]!,
        ]),
      ),
      embedding: Array.from({ length: 16 }, () => 0.1),
    }));
    const verdict = judgeWindow(profile, records, {});
    expect(verdict.skipped).toContainEqual({ name: "embedding", reason: expect.stringMatching(/no embedding output/) });
    expect(verdict.tests.map((t) => t.name)).not.toContain("embedding");
  });

  it("reuses the staged dataset on later runs of the same dataset id", async () => {
    const layout = runLayout(join(home, "runs", "unused"), join(home, "staged", datasetId));
    const marker = join(layout.dataDir, ".staged");
    await stageDataset(rt, datasetId, layout); // staged by an earlier run, or now
    const before = statSync(marker).mtimeMs;
    const file = readdirSync(join(layout.dataDir, "test", "bag"))[0]!;
    const fileBefore = statSync(join(layout.dataDir, "test", "bag", file)).mtimeMs;
    // A run that stages and then fails fast (its trainer writes no model): staging is all it is here for.
    await expect(train({ model: "restage", args: { mode: "no-model" } })).rejects.toThrow(/wrote no model\.onnx/);
    expect(statSync(marker).mtimeMs).toBe(before);
    expect(statSync(join(layout.dataDir, "test", "bag", file)).mtimeMs).toBe(fileBefore);
    expect(await stageDataset(rt, datasetId, layout)).toMatchObject({
      written: false,
      classes: CLASSES,
      counts: dataset.splits,
    });
    // A folder not staged yet is written.
    const fresh = runLayout(join(cwd, "fresh"));
    expect(await stageDataset(rt, datasetId, fresh)).toMatchObject({ written: true, counts: dataset.splits });
    expect(await stageDataset(rt, datasetId, fresh)).toMatchObject({ written: false });
  });

  it("stages one dataset for concurrent runs: both succeed, one writes, the folder is whole", async () => {
    const shared = runLayout(join(cwd, "concurrent"));
    const results = await Promise.all([1, 2, 3].map(() => stageDataset(rt, datasetId, shared)));
    expect(results.filter((r) => r.written).length).toBeGreaterThanOrEqual(1);
    const lines = readFileSync(shared.jsonl.test, "utf8").trim().split("\n");
    expect(lines).toHaveLength(dataset.splits.test!);
    for (const line of lines)
      expect(statSync(fileURLToPath((JSON.parse(line) as { imageGcsUri: string }).imageGcsUri)).isFile()).toBe(true);
    expect(readdirSync(cwd).filter((n) => n.startsWith("concurrent.tmp-"))).toEqual([]);
  });

  describe("metrics.jsonl", () => {
    it("MetricsLineSchema keeps finite numbers, drops other values and wants integer steps and epochs", () => {
      expect(
        MetricsLineSchema.parse({
          step: 3,
          epoch: 1,
          loss: 0.25,
          phase: "fit",
          nested: { a: 1 },
          flag: true,
          inf: Infinity,
        }),
      ).toEqual({ step: 3, epoch: 1, loss: 0.25 });
      expect(MetricsLineSchema.safeParse({ step: 1.5, loss: 1 }).success).toBe(false);
      expect(MetricsLineSchema.safeParse({ epoch: 0.5, loss: 1 }).success).toBe(false);
      expect(MetricsLineSchema.safeParse({ phase: "no numbers" }).success).toBe(false);
      expect(MetricsLineSchema.safeParse({}).success).toBe(false);
      expect(MetricsLineSchema.safeParse([1, 2]).success).toBe(false);
      expect(MetricsLineSchema.parse({ accuracy: 0.5 })).toEqual({ accuracy: 0.5 });
    });

    it("counts malformed lines in invalidMetricLines and still registers the model", async () => {
      const { version } = await train({ model: "junk", requestId: "req-junk", args: { mode: "junk-metrics" } });
      expect(version.version).toBe(1);
      const record = await runOf("req-junk");
      expect(record.status).toBe("succeeded");
      expect(record.invalidMetricLines).toBe(4);
      expect(record.metrics).toEqual([
        { step: 1, loss: 1 },
        { step: 2, loss: 0.8 },
        { step: 3, loss: 0.7 },
      ]);
      expect(parseModelCard(await rt.blobs.get(version.cardDigest), version.cardDigest).history).toEqual(
        record.metrics,
      );
    });
  });
});
