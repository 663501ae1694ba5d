// The ONNX Runtime session of one model version, in its own thread: onnxruntime-node runs a session synchronously
// on the thread that calls it, so on the server's event loop a 50 ms batch would stall every request behind it.
import { parentPort, workerData } from "node:worker_threads";
import * as ort from "onnxruntime-node";
import { float32Outputs, type OrtReply, type OrtRequest, type OrtWorkerData } from "./ort-session.ts";

const { model, options } = workerData as OrtWorkerData;
const port = parentPort!;

try {
  const session = await ort.InferenceSession.create(model, options);
  port.postMessage({
    kind: "ready",
    inputNames: [...session.inputNames],
    outputNames: [...session.outputNames],
  } satisfies OrtReply);
  port.on("message", (request: OrtRequest) => {
    void (async () => {
      try {
        const result = await session.run(
          { [request.input]: new ort.Tensor("float32", request.data, request.dims) },
          request.outputs,
        );
        // A view into ORT's own buffer cannot be transferred; a copy can, and is small beside the run.
        const outputs = float32Outputs(result, request.outputs, true);
        port.postMessage(
          { kind: "result", id: request.id, outputs } satisfies OrtReply,
          Object.values(outputs).map((o) => o.buffer as ArrayBuffer),
        );
      } catch (err) {
        port.postMessage({ kind: "error", id: request.id, message: (err as Error).message } satisfies OrtReply);
      }
    })();
  });
} catch (err) {
  port.postMessage({ kind: "failed", message: (err as Error).message } satisfies OrtReply);
}
