// A heavy model runs in its own thread: a real ONNX model heavy enough to take milliseconds per batch, run by
// onnxruntime, while the event loop's thread is watched. Run on the loop itself (onnxruntime-node's own session),
// the run's compute is the loop thread's.
import onnxProto from "onnx-proto";
import * as ort from "onnxruntime-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LoadedModel } from "../../serving/loaded-model.ts";
import { ServingMetrics } from "../../serving/metrics.ts";
import { ThreadedSession, type OrtPlacement } from "../../serving/ort-session.ts";
import { tinyWorld, TINY_MODEL, type TinyWorld } from "../support/tiny-served-model.ts";

const { onnx } = onnxProto;
const WIDTH = 512;
const LAYERS = 16;
const OPTIONS = { intraOpNumThreads: 1, interOpNumThreads: 1, executionMode: "sequential" as const };

/** x [N, WIDTH] → LAYERS × MatMul by one shared WIDTH×WIDTH weight → y [N, WIDTH]: ~4 M multiply-adds per row. */
function heavyOnnx(): Uint8Array {
  const w = new Float32Array(WIDTH * WIDTH).map((_, i) => ((i % 7) - 3) / (WIDTH * 4));
  const info = (name: string) => ({
    name,
    type: {
      tensorType: {
        elemType: onnx.TensorProto.DataType.FLOAT,
        shape: { dim: [{ dimParam: "N" }, { dimValue: WIDTH }] },
      },
    },
  });
  const node = Array.from({ length: LAYERS }, (_, i) => ({
    opType: "MatMul",
    input: [i === 0 ? "x" : `h${i}`, "W"],
    output: [i === LAYERS - 1 ? "y" : `h${i + 1}`],
    name: `mm${i}`,
  }));
  const proto = onnx.ModelProto.create({
    irVersion: 7,
    opsetImport: [{ domain: "", version: 13 }],
    graph: {
      name: "heavy",
      node,
      initializer: [
        {
          name: "W",
          dims: [WIDTH, WIDTH],
          dataType: onnx.TensorProto.DataType.FLOAT,
          rawData: new Uint8Array(w.buffer),
        },
      ],
      input: [info("x")],
      output: [info("y")],
    },
  });
  return onnx.ModelProto.encode(proto).finish();
}

/**
 * CPU time of this (the event loop's) thread while `work` runs, in microseconds. CPU time, not wall time or loop
 * turns: a shared machine that leaves this process waiting for a core stretches those, not this.
 */
async function loopThreadCpuDuring(work: () => Promise<unknown>): Promise<number> {
  const start = process.threadCpuUsage();
  await work();
  const used = process.threadCpuUsage(start);
  return used.user + used.system;
}

describe("ONNX Runtime in a worker thread", () => {
  const model = heavyOnnx();
  let threaded: ThreadedSession;
  beforeAll(async () => {
    threaded = await ThreadedSession.create(model, OPTIONS);
  });
  afterAll(async () => {
    await threaded?.release();
  });
  // 512 rows: tens of milliseconds of compute, against the fraction of one it takes to post a batch and take the answer.
  const ROWS = 512;
  const batch = (): Float32Array => new Float32Array(ROWS * WIDTH).fill(0.5);

  it("gives the same outputs as a session on the event loop, and leaves the loop turning while it runs", async () => {
    const inline = await ort.InferenceSession.create(model, OPTIONS);
    expect(threaded.inputNames).toEqual(["x"]);
    expect(threaded.outputNames).toEqual(["y"]);

    let expected: Float32Array | undefined;
    const inlineCpu = await loopThreadCpuDuring(async () => {
      expected = (await inline.run({ x: new ort.Tensor("float32", batch(), [ROWS, WIDTH]) }, ["y"])).y!
        .data as Float32Array;
    });
    let got: Float32Array | undefined;
    const threadCpu = await loopThreadCpuDuring(async () => {
      got = (await threaded.run("x", batch(), [ROWS, WIDTH], ["y"])).y;
    });
    expect(Array.from(got!)).toEqual(Array.from(expected!));
    // On the loop, the run's compute is the loop thread's own; in the thread, the loop thread only posts the batch
    // and receives the answer (counting loop turns instead failed here when the thread finished before the first).
    expect(threadCpu).toBeLessThan(inlineCpu / 5);
    await inline.release();
  });

  it("runs concurrent batches to their own callers", async () => {
    const session = threaded;
    const rows = [0.1, 0.2, 0.3].map((v) => new Float32Array(WIDTH).fill(v));
    const outs = await Promise.all(rows.map((r) => session.run("x", r.slice(), [1, WIDTH], ["y"])));
    const single = await Promise.all(rows.map((r) => session.run("x", r.slice(), [1, WIDTH], ["y"])));
    expect(outs.map((o) => o.y![0])).toEqual(single.map((o) => o.y![0]));
    expect(new Set(outs.map((o) => o.y![0])).size).toBe(3);
  });

  it("refuses a model that does not load with ONNX Runtime's reason, and a run with a wrong input name", async () => {
    await expect(ThreadedSession.create(new Uint8Array([1, 2, 3, 4]), OPTIONS)).rejects.toThrow(
      /protobuf|parse|load|model/i,
    );
    const session = threaded;
    await expect(session.run("nope", new Float32Array(WIDTH), [1, WIDTH], ["y"])).rejects.toThrow(
      /ONNX Runtime: .*missing/i,
    );
    // The thread survives a failed run.
    expect((await session.run("x", new Float32Array(WIDTH), [1, WIDTH], ["y"])).y).toHaveLength(WIDTH);
  });

  it("fails runs after the thread is gone instead of waiting forever", async () => {
    const session = await ThreadedSession.create(model, OPTIONS);
    await session.release();
    await expect(session.run("x", new Float32Array(WIDTH), [1, WIDTH], ["y"])).rejects.toThrow(/thread exited/);
  });
});

describe("where a served version's session runs", { timeout: 60_000 }, () => {
  let world: TinyWorld;
  beforeAll(async () => {
    world = await tinyWorld();
  });
  afterAll(async () => {
    await world?.close();
  });
  const load = (ortPlacement: OrtPlacement): Promise<LoadedModel> =>
    LoadedModel.load(world.rt, TINY_MODEL, world.version.version, {
      ortThreads: 1,
      ortPlacement,
      batch: { maxSize: 8, maxDelayMs: 0 },
      metrics: new ServingMetrics({ defaults: false }),
    });

  it("answers the same in a thread and inline, and `auto` keeps a model of microseconds on the event loop", async () => {
    const inputs = (): Float32Array[] => [0.1, 0.9].map((v) => new Float32Array(28 * 28).fill(v));
    const answers: Record<string, number[][]> = {};
    for (const placement of ["thread", "inline", "auto"] as const) {
      const model = await load(placement);
      answers[placement] = (await model.infer(inputs())).map((o) => Array.from(o.probabilities));
      expect(model.runsOn).toBe(placement === "thread" ? "thread" : "inline");
      await model.retire();
    }
    expect(answers.thread).toEqual(answers.inline);
    expect(answers.auto).toEqual(answers.inline);
    expect(answers.inline![1]![1]).toBeGreaterThan(0.5);
  });
});
