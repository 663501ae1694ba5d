// Child process of bench/serve.ts: the raw in-process pipeline on one core — decode + preprocess (core/imaging,
// the model card's spec) + ONNX Runtime, batch 1, one thread, the same session options as serving — looping over
// the images. No HTTP, no batching, no prediction log: the floor the server is compared with.
import { readFile } from "node:fs/promises";
import * as ort from "onnxruntime-node";
import { inputShape, preprocess, type PreprocessSpec } from "../core/imaging/preprocess.ts";

export interface RawSetup {
  model: string;
  spec: PreprocessSpec;
  input: string;
  outputs: string[];
  images: string[];
}
export type RawCommand = { setup: RawSetup } | { go: { warmupMs: number; durationMs: number } };
export type RawReply =
  | { ready: true }
  | { done: { images: number; seconds: number; cpuSeconds: number; allCpuSeconds: number } }
  | { failed: string };

const send = (msg: RawReply): void => void process.send?.(msg);
let state: { session: ort.InferenceSession; setup: RawSetup; images: Uint8Array[] } | undefined;

async function loop(until: number): Promise<number> {
  if (!state) throw new Error("no setup");
  const { session, setup, images } = state;
  const shape = [1, ...inputShape(setup.spec)];
  let n = 0;
  while (performance.now() < until) {
    const x = await preprocess(images[n % images.length]!, setup.spec);
    await session.run({ [setup.input]: new ort.Tensor("float32", x, shape) }, setup.outputs);
    n++;
  }
  return n;
}

process.on("message", (msg: RawCommand) => {
  void (async () => {
    if ("setup" in msg) {
      const session = await ort.InferenceSession.create(await readFile(msg.setup.model), {
        intraOpNumThreads: 1,
        interOpNumThreads: 1,
        executionMode: "sequential",
        graphOptimizationLevel: "all",
      });
      state = { session, setup: msg.setup, images: await Promise.all(msg.setup.images.map((p) => readFile(p))) };
      send({ ready: true });
    } else {
      const all = process.cpuUsage();
      await loop(performance.now() + msg.go.warmupMs);
      const started = performance.now();
      const cpu = process.cpuUsage();
      const images = await loop(started + msg.go.durationMs);
      const used = process.cpuUsage(cpu);
      const usedAll = process.cpuUsage(all);
      send({
        done: {
          images,
          seconds: (performance.now() - started) / 1000,
          cpuSeconds: (used.user + used.system) / 1e6,
          allCpuSeconds: (usedAll.user + usedAll.system) / 1e6,
        },
      });
      await state?.session.release();
      process.disconnect();
    }
  })().catch((err: unknown) => {
    send({ failed: (err as Error).message });
    process.exitCode = 1;
    process.disconnect();
  });
});
