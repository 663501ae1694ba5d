import { Worker } from "node:worker_threads";
import type { InferenceSession } from "onnxruntime-node";

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
export class OrtSession {
  readonly inputNames: readonly string[];
  readonly outputNames: readonly string[];
  private readonly worker: Worker;
  private readonly pending = new Map<number, { resolve: (outputs: Record<string, Float32Array>) => void; reject: (err: Error) => void }>();
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
  static create(model: Uint8Array, options: InferenceSession.SessionOptions): Promise<OrtSession> {
    const worker = new Worker(new URL("./ort-worker.ts", import.meta.url), { workerData: { model, options } satisfies OrtWorkerData });
    return new Promise((resolve, reject) => {
      const onExit = (code: number): void => reject(new Error(`the ONNX Runtime thread exited (code ${code}) before the model loaded`));
      worker.once("error", reject);
      worker.once("exit", onExit);
      worker.once("message", (reply: OrtReply) => {
        worker.off("error", reject);
        worker.off("exit", onExit);
        if (reply.kind === "ready") return resolve(new OrtSession(worker, reply));
        void worker.terminate();
        reject(new Error(reply.kind === "failed" ? reply.message : `unexpected first message ${reply.kind} from the ONNX Runtime thread`));
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
