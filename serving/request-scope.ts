import { AsyncLocalStorage } from "node:async_hooks";
import { randomUUID } from "node:crypto";
import type { RequestHandler } from "express";
import { setLogContext, type LogFields } from "../core/telemetry/logger.ts";
import { requestLogFields } from "./http-log.ts";

/** What the data plane knows of the HTTP request it is working for, wherever it runs in the request's async flow. */
export interface RequestScope {
  /** The request id echoed in `x-request-id`: the caller's when it sent a sane one, else ours. */
  requestId: string;
  /** Fires once the request is answered (a timeout's 503 included) or its client has gone: its queued work is moot. */
  signal: AbortSignal;
  /** Our id for this request's predictions: lineage is keyed by it, so no caller can choose or overwrite a record. */
  predictionId: string;
  /** The caller's `x-request-id`, when it sent one (echoed back, and kept with the prediction as an attribute). */
  clientRequestId: string | undefined;
  /** The request id and trace fields (`logging.googleapis.com/trace`, spanId, trace_sampled) of its log lines. */
  logFields: LogFields;
}

const storage = new AsyncLocalStorage<RequestScope>();
// Whatever logs during a request (model host, prediction log, error handler) carries its id and trace.
setLogContext(() => storage.getStore()?.logFields);
// abort() without a reason builds a DOMException with a stack for every request: a measurable cost under load.
const ANSWERED = "the request was answered or its client left";

/** The scope of the request being served, if this code runs for one. */
export const currentRequest = (): RequestScope | undefined => storage.getStore();

/**
 * Runs the rest of the request's handling inside its scope; mounted after the request id is assigned. A caller
 * that sent `x-request-id` also gets `x-prediction-id`, the key of its predictions in lineage.
 */
export function requestScope(): RequestHandler {
  return (req, res, next) => {
    const controller = new AbortController();
    res.once("close", () => controller.abort(ANSWERED));
    const requestId = String(res.locals.requestId);
    const given = req.headers["x-request-id"];
    const clientRequestId = typeof given === "string" && given === requestId ? given : undefined;
    // Without a caller's id the request id is ours already, and the one the caller sees finds the prediction.
    const predictionId = clientRequestId === undefined ? requestId : randomUUID();
    // The caller's id stays the trace id it sees; this one names exactly its predictions in lineage.
    if (clientRequestId !== undefined) res.setHeader("x-prediction-id", predictionId);
    storage.run(
      { signal: controller.signal, requestId, predictionId, clientRequestId, logFields: requestLogFields(res) },
      next,
    );
  };
}
