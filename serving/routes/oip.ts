import type { IncomingMessage } from "node:http";
import express, { Router, type Request } from "express";
import type { ServingContext } from "../context.ts";
import type { DataPlane } from "../data-plane.ts";
import { ApiError } from "../errors.ts";
import { mediaType } from "../inputs.ts";
import type { LoadedModel } from "../loaded-model.ts";
import { binaryBody, cutBinary, HEADER_LENGTH, splitBinaryBody } from "../oip/binary.ts";
import { modelMetadata, serverMetadata } from "../oip/metadata.ts";
import { answerOutputs, planOutputs, type OutputPlan } from "../oip/outputs.ts";
import { countParameter, parseInferRequest, type InferRequest } from "../oip/schemas.ts";
import { toModelInput } from "../oip/tensors.ts";

// The JSON header of a binary request describes tensors whose data follows it; it is small.
const MAX_BINARY_HEADER_BYTES = 1024 * 1024;

/**
 * Open Inference Protocol v2, REST binding (serving/oip/spec/open_inference_rest.yaml), with the binary tensor data
 * and classification extensions: a thin adapter over the data plane. Errors on these routes are the spec's
 * `{"error": "<message>"}` (serving/oip/errors.ts, applied by the app's error handler).
 */
export function oipRoutes(ctx: ServingContext, plane: DataPlane, router: Router = Router()): Router {
  const { config } = ctx;
  const whenReady = (): true => {
    if (ctx.draining) throw new ApiError("not_ready", "the server is shutting down");
    if (ctx.host.current === undefined) throw new ApiError("not_ready", "no model is loaded yet; try again shortly");
    return true;
  };
  // Each FP32 value is at most ~25 characters of JSON; the body limit follows the image limit.
  const jsonLimit = config.maxBodyBytes * 4;
  const limits = { maxImages: config.maxImagesPerRequest, maxImageBytes: config.maxBodyBytes };
  const hasBinaryHeader = (req: IncomingMessage): boolean => req.headers[HEADER_LENGTH] !== undefined;
  const bodies = [
    express.raw({ type: hasBinaryHeader, limit: jsonLimit + MAX_BINARY_HEADER_BYTES }),
    express.json({ type: (req) => !hasBinaryHeader(req) && isJson(req), limit: jsonLimit, strict: true }),
  ];

  router.get("/v2/health/live", (_req, res) => void res.json({ live: true }));
  // Not ready is a 503 with the spec's error body, as KServe answers it.
  router.get("/v2/health/ready", (_req, res) => void res.json({ ready: whenReady() }));
  router.get("/v2", (_req, res) => void res.json(serverMetadata()));

  // The version is optional in every model path; only the served version answers.
  for (const base of ["/v2/models/:model", "/v2/models/:model/versions/:version"] as string[]) {
    router.get(`${base}/ready`, (req: Request, res) => {
      servedName(ctx, req);
      const model = ctx.host.current;
      if (model) servedVersion(model, req);
      res.json({ name: req.params.model, ready: whenReady() });
    });
    router.get(base, async (req, res) => {
      servedName(ctx, req);
      res.json(await plane.withModel((model) => (servedVersion(model, req), modelMetadata(model))));
    });
    router.post(`${base}/infer`, ...bodies, async (req: Request, res) => {
      servedName(ctx, req);
      // An unknown version is a 404 before the body is looked at; checked again on the leased version below.
      const current = ctx.host.current;
      if (current) servedVersion(current, req);
      const { request, binary } = readRequest(req);
      let plans: OutputPlan[] = [];
      const inference = await plane.infer("oip", (model) => {
        servedVersion(model, req);
        plans = planOutputs(request, model);
        return toModelInput(request.inputs[0]!, binary[0], model, limits);
      });
      const { outputs, parts } = answerOutputs(plans, inference);
      const answer = {
        model_name: inference.model.name,
        model_version: String(inference.model.version),
        ...(request.id === undefined ? {} : { id: request.id }),
        outputs,
      };
      if (parts.length === 0) return void res.json(answer);
      const { body, headerLength } = binaryBody(answer, parts);
      res.setHeader(HEADER_LENGTH, String(headerLength));
      res.type("application/octet-stream").send(body);
    });
  }
  return router;
}

/** JSON bodies may come without a content type (Triton accepts them so); any other type is refused. */
const isJson = (req: IncomingMessage): boolean => {
  const type = mediaType(req);
  return type === "" || type === "application/json" || type.endsWith("+json");
};

/** The inference request and, per input, its bytes when it came through the binary extension. */
function readRequest(req: Request): { request: InferRequest; binary: (Buffer | undefined)[] } {
  if (Buffer.isBuffer(req.body)) {
    const { header, binary } = splitBinaryBody(req.body, req.headers[HEADER_LENGTH], MAX_BINARY_HEADER_BYTES);
    const request = parseInferRequest(header);
    const sizes = request.inputs.map((t, i) => countParameter(t.parameters, "binary_data_size", `inputs[${i}]`, 0));
    const parts = cutBinary(
      binary,
      sizes.filter((s) => s !== undefined),
    );
    let next = 0;
    return { request, binary: sizes.map((s) => (s === undefined ? undefined : parts[next++])) };
  }
  if (req.body === undefined) {
    if (!isJson(req))
      throw new ApiError(
        "unsupported_media_type",
        `content type ${JSON.stringify(mediaType(req))} is not accepted; send application/json, or the binary tensor data extension (${HEADER_LENGTH})`,
      );
    throw new ApiError("bad_request", "the request has no body; send an inference request");
  }
  const request = parseInferRequest(req.body);
  const i = request.inputs.findIndex((t) => t.parameters?.binary_data_size !== undefined);
  if (i >= 0)
    throw new ApiError(
      "bad_request",
      `inputs[${i}] has parameters.binary_data_size, but the request has no ${HEADER_LENGTH} header`,
    );
  return { request, binary: request.inputs.map(() => undefined) };
}

function servedName(ctx: ServingContext, req: Request): void {
  const name = req.params.model;
  if (name !== ctx.host.ref.name)
    throw new ApiError(
      "not_found",
      `model ${JSON.stringify(name)} is not served here; this server serves ${JSON.stringify(ctx.host.ref.name)}`,
    );
}

/** Checked against the leased version, so a hot swap between the check and the answer cannot mix two versions. */
function servedVersion(model: LoadedModel, req: Request): void {
  const version = req.params.version;
  if (version !== undefined && version !== String(model.version)) {
    throw new ApiError(
      "not_found",
      `model ${JSON.stringify(model.name)} has no version ${JSON.stringify(version)} here; this server serves version ${model.version}`,
    );
  }
}
