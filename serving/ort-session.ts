import { Worker } from "node:worker_threads";
import * as ort from "onnxruntime-node";
import type { InferenceSession } from "onnxruntime-node";

/** What serving needs of an ONNX Runtime session, wherever it runs. */
export interface ModelSession {
  readonly inputNames: readonly string[];
  readonly outputNames: readonly string[];
  /** Runs one batch; `data` is handed over (unusable by the caller afterwards). */
  run(input: string, data: Float32Array, dims: number[], outputs: string[]): Promise<Record<string, Float32Array>>;
  release(): Promise<void>;
}

/**
 * Where a model's session runs: `thread` (its own worker thread), `inline` (the event loop: onnxruntime-node runs
 * synchronously there), or `auto`: inline when a one-image run is shorter than a thread hop is worth, else a thread.
 */
export type OrtPlacement = "auto" | "thread" | "inline";

/** A one-image run at least this long goes to a thread under `auto`: below it, the hop costs more than it frees. */
export const THREAD_MIN_RUN_MS = 1;

/** The named outputs of a run as float32 arrays (copies when `copy`, e.g. to transfer them); throws for any other type. */
export function float32Outputs(
  result: InferenceSession.OnnxValueMapType,
  names: readonly string[],
  copy = false,
): Record<string, Float32Array> {
  const out: Record<string, Float32Array> = {};
  for (const name of names) {
    const values = result[name]?.data;
    if (!(values instanceof Float32Array)) throw new Error(`output ${name} is not float32`);
    out[name] = copy ? values.slice() : values;
  }
  return out;
}

/** onnxruntime-node's own session, run on the calling thread. */
export class InlineSession implements ModelSession {
  readonly inputNames: readonly string[];
  readonly outputNames: readonly string[];
  private readonly session: ort.InferenceSession;

  private constructor(session: ort.InferenceSession) {
    this.session = session;
    this.inputNames = session.inputNames;
    this.outputNames = session.outputNames;
  }

  static async create(model: Uint8Array, options: InferenceSession.SessionOptions): Promise<InlineSession> {
    return new InlineSession(await ort.InferenceSession.create(model, options));
  }

  async run(
    input: string,
    data: Float32Array,
    dims: number[],
    outputs: string[],
  ): Promise<Record<string, Float32Array>> {
    return float32Outputs(await this.session.run({ [input]: new ort.Tensor("float32", data, dims) }, outputs), outputs);
  }

  release(): Promise<void> {
    return this.session.release();
  }
}

export interface OrtWorkerData {
  model: Uint8Array;
  options: InferenceSession.SessionOptions;
}

export type OrtRequest = { id: number; input: string; data: Float32Array; dims: number[]; outputs: string[] };

export type OrtReply =
  | { kind: "ready"; inputNames: string[]; outputNames: string[] }
  | { kind: "failed"; message: string }
  | { kind: "result"; id: number; outputs: Record<string, Float32Array> }
  | { kind: "error"; id: number; message: string };

/**
 * An ONNX Runtime session run in a worker thread (see ort-worker.ts): the event loop hands over a batch and goes on
 * parsing, decoding and answering while the model runs. Inputs and outputs move between threads without copies.
 */
export class ThreadedSession implements ModelSession {
  readonly inputNames: readonly string[];
  readonly outputNames: readonly string[];
  private readonly worker: Worker;
  private readonly pending = new Map<
    number,
    { resolve: (outputs: Record<string, Float32Array>) => void; reject: (err: Error) => void }
  >();
  private nextId = 0;
  private dead: Error | undefined;

  private constructor(worker: Worker, names: { inputNames: string[]; outputNames: string[] }) {
    this.worker = worker;
    this.inputNames = names.inputNames;
    this.outputNames = names.outputNames;
    worker.on("message", (reply: OrtReply) => {
      if (reply.kind !== "result" && reply.kind !== "error") return;
      const waiting = this.pending.get(reply.id);
      this.pending.delete(reply.id);
      if (reply.kind === "result") waiting?.resolve(reply.outputs);
      else waiting?.reject(new Error(`ONNX Runtime: ${reply.message}`));
    });
    const fail = (err: Error): void => {
      this.dead ??= err;
      for (const waiting of this.pending.values()) waiting.reject(err);
      this.pending.clear();
    };
    worker.on("error", (err) => fail(new Error(`the ONNX Runtime thread failed: ${err.message}`, { cause: err })));
    worker.on("exit", (code) => fail(new Error(`the ONNX Runtime thread exited (code ${code})`)));
  }

  /** Starts the thread and loads the model in it; rejects with ONNX Runtime's message when it does not load. */
  static create(model: Uint8Array, options: InferenceSession.SessionOptions): Promise<ThreadedSession> {
    const worker = new Worker(new URL("./ort-worker.ts", import.meta.url), {
      workerData: { model, options } satisfies OrtWorkerData,
    });
    return new Promise((resolve, reject) => {
      const onExit = (code: number): void =>
        reject(new Error(`the ONNX Runtime thread exited (code ${code}) before the model loaded`));
      worker.once("error", reject);
      worker.once("exit", onExit);
      worker.once("message", (reply: OrtReply) => {
        worker.off("error", reject);
        worker.off("exit", onExit);
        if (reply.kind === "ready") return resolve(new ThreadedSession(worker, reply));
        void worker.terminate();
        reject(
          new Error(
            reply.kind === "failed"
              ? reply.message
              : `unexpected first message ${reply.kind} from the ONNX Runtime thread`,
          ),
        );
      });
    });
  }

  /** Runs one batch; `data` is handed to the thread (it is unusable here afterwards). */
  run(input: string, data: Float32Array, dims: number[], outputs: string[]): Promise<Record<string, Float32Array>> {
    if (this.dead) return Promise.reject(this.dead);
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.worker.postMessage({ id, input, data, dims, outputs } satisfies OrtRequest, [data.buffer as ArrayBuffer]);
    });
  }

  async release(): Promise<void> {
    await this.worker.terminate();
  }
}
