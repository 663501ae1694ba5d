import type { Request, Response, Router } from "express";
import { Predictions, docKey } from "../../core/lineage/store.ts";
import { parseModelCard } from "../../core/registry/model-card.ts";
import { getVersion } from "../../core/registry/model-version.ts";
import type { Logger } from "../../core/telemetry/logger.ts";
import { PredictionRecorded, PredictResult, PredictSetup, type ServingAnswer } from "../api/predict-schemas.ts";
import type { ApiError } from "../api/schemas.ts";
import { CSRF_HEADER } from "../api/write-schemas.ts";
import { HttpError, type ConsoleAuth } from "./identity.ts";
import { forward, PredictError, readUpload, type PredictSettings } from "./predict-proxy.ts";
import type { ReadDeps } from "./read-model.ts";
import { refuseCrossSite, sameToken } from "./write-routes.ts";

export interface PredictDeps extends ReadDeps {
  predict?: PredictSettings;
  auth?: ConsoleAuth;
  beforeLineage?: () => Promise<void>;
  log: Logger;
  /** How long `GET /api/predict/lineage` waits for the prediction to be recorded (serving logs in batches). */
  lineageWaitMs?: number;
}

/**
 * Predict does not change the registry, so it needs no sign-in; but it does make serving log a prediction, so a
 * page elsewhere must not trigger it: the request comes from this console's page (Sec-Fetch-Site, Origin) and
 * carries the CSRF header, which a cross-site form cannot send and a cross-site script cannot without a CORS grant
 * we never give. Signed in, the header must be the session's token, as for the writes.
 */
async function refuseForeign(req: Request, auth: ConsoleAuth | undefined): Promise<void> {
  refuseCrossSite(req);
  const given = req.headers[CSRF_HEADER];
  if (typeof given !== "string" || given === "")
    throw new HttpError(
      403,
      "csrf_missing",
      `a prediction needs the ${CSRF_HEADER} header (the console's page sends it)`,
    );
  const who = auth ? await auth.identify(req.headers) : undefined;
  if (auth && who && !sameToken(given, auth.csrfFor(req.headers, who)))
    throw new HttpError(403, "csrf_invalid", `the ${CSRF_HEADER} header does not match the session`);
}

const NOT_CONFIGURED =
  "no serving API is configured: start the console with `sightline ui --serving-url http://127.0.0.1:8080` or set SIGHTLINE_CONSOLE_SERVING_URL";

// Class names by model version: a card never changes once registered, and few versions answer.
const MAX_CARDS = 64;

/** `GET /api/predict`, `POST /api/predict` (one image, multipart) and `GET /api/predict/lineage?id=`. */
export function predictRoutes(api: Router, deps: PredictDeps): void {
  const settings = deps.predict;
  const classes = new Map<string, Promise<string[] | undefined>>();
  const classesOf = (model: ServingAnswer["model"]): Promise<string[] | undefined> => {
    const key = `${model.name}:${model.version}`;
    let found = classes.get(key);
    if (!found) {
      if (classes.size >= MAX_CARDS) classes.delete(classes.keys().next().value!);
      // The registry may be another one than serving's (or the card unreadable): the scores then go by index.
      found = getVersion(deps.meta, model.name, model.version)
        .then(async (v) => parseModelCard(await deps.blobs.get(v.cardDigest), key).classes)
        .catch(() => undefined);
      classes.set(key, found);
    }
    return found;
  };

  api.get(
    "/predict",
    (_req, res) =>
      void res.json(
        PredictSetup.parse({ servingUrl: settings?.servingUrl ?? null, maxBytes: settings?.maxBytes ?? 0 }),
      ),
  );

  api.post(
    "/predict",
    (req, res, next) =>
      void (async () => {
        await refuseForeign(req, deps.auth);
        if (!settings?.servingUrl) throw new PredictError(503, "serving_not_configured", NOT_CONFIGURED);
        const upload = await readUpload(req, settings.maxBytes);
        const { answer, millis } = await forward({ ...settings, servingUrl: settings.servingUrl }, upload, deps.log);
        const p = answer.predictions[0]!;
        const names = await classesOf(answer.model);
        const scores = p.scores
          .map((score, i) => ({ label: names?.[i] ?? (i === p.index ? p.label : `#${i}`), score }))
          .sort((a, b) => b.score - a.score);
        return PredictResult.parse({
          requestId: answer.request_id,
          model: answer.model,
          label: p.label,
          confidence: p.confidence,
          scores,
          servingUrl: settings.servingUrl,
          millis: Math.round(millis),
        });
      })().then(
        (body) => res.json(body),
        (err: unknown) => answerError(res, err, next),
      ),
  );

  api.get(
    "/predict/lineage",
    (req, res, next) =>
      void (async () => {
        const id = typeof req.query.id === "string" ? req.query.id.trim() : "";
        if (id === "" || id.length > 256)
          throw new HttpError(400, "id_invalid", "give the prediction's request id as ?id=");
        const until = Date.now() + Math.min(deps.lineageWaitMs ?? 5000, 10_000);
        for (;;) {
          await deps.beforeLineage?.();
          if (await Predictions.get(deps.meta, docKey(id))) return PredictionRecorded.parse({ id, recorded: true });
          if (Date.now() >= until) return PredictionRecorded.parse({ id, recorded: false });
          await new Promise((r) => setTimeout(r, 250));
        }
      })().then((body) => res.json(body), next),
  );
}

/** Our refusals are answered with their own message (the page shows it); anything else goes to the API's handler. */
function answerError(res: Response, err: unknown, next: (err: unknown) => void): void {
  if (!(err instanceof PredictError)) return next(err);
  // A body that was refused before it was read must not be read as the next request.
  if (err.status === 413) res.set("Connection", "close");
  const body: ApiError = { error: { code: err.code, message: err.message } };
  res.status(err.status).json(body);
}
