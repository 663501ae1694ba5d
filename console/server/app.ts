import { existsSync } from "node:fs";
import { join } from "node:path";
import express, { type NextFunction, type Request, type Response } from "express";
import { errorKind, KIND_STATUS, SightlineError } from "../../core/errors.ts";
import { verifyModelLineage } from "../../core/lineage/verify.ts";
import { parseModelRef } from "../../core/registry/model-version.ts";
import type { Logger } from "../../core/telemetry/logger.ts";
import type { ApiError } from "../api/schemas.ts";
import type { ConsoleAuth } from "./identity.ts";
import { writeRoutes } from "./write-routes.ts";
import type { WriteDeps } from "./writes.ts";
import { driftHistory, driftWindowReport, lineageSearch, modelList, modelPage, type ReadDeps } from "./read-model.ts";
import { pageRoutes } from "./page-routes.ts";
import { provenancePage } from "./provenance-read.ts";
import type { PredictSettings } from "./predict-proxy.ts";
import { predictRoutes } from "./predict-routes.ts";

export interface ConsoleOptions extends ReadDeps {
  /** The built front end (index.html and its assets); without it only the API answers. */
  staticDir?: string;
  /** Runs before each lineage search: records the events published since (the CLI does the same). */
  beforeLineage?: () => Promise<void>;
  /** Host names the Host header may carry (DNS rebinding: a page elsewhere must not reach a loopback console). */
  allowedHosts?: string[];
  /** Who may write (a local token or IAP); with `writes`, promote, roll back and approve are served. */
  auth?: ConsoleAuth;
  writes?: WriteDeps;
  /** Where the Predict page's images are forwarded (the inference API), and the limits on the way. */
  predict?: PredictSettings;
  log: Logger;
}

// Only our own files: no inline script or style, no framing, no plugins. Data reaches the page as JSON through
// fetch, never through the HTML.
const CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  // blob: the Predict page previews the chosen file through an object URL (the bytes never leave the browser for it).
  "img-src 'self' data: blob:",
  "font-src 'self'",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join("; ");

function securityHeaders(_req: Request, res: Response, next: NextFunction): void {
  res.set({
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
  });
  next();
}

const fail = (res: Response, status: number, code: string, message: string): void => {
  const body: ApiError = { error: { code, message } };
  res.status(status).json(body);
};

/** A path parameter that must be a positive integer (a version, a window's number). */
function positive(param: unknown, what: "version" | "report"): number {
  const n = Number(param);
  if (typeof param !== "string" || !/^\d+$/.test(param) || !Number.isInteger(n) || n < 1)
    throw new SightlineError(
      "invalid",
      `${what}_invalid`,
      `${what} ${JSON.stringify(param)} is not a positive integer`,
    );
  return n;
}

/** The console: a read-only JSON API over core's read models, and the built front end. */
export function createConsoleApp(options: ConsoleOptions): express.Express {
  const writes = options.auth !== undefined && options.writes !== undefined;
  const app = express();
  app.disable("x-powered-by");
  app.set("etag", false);
  app.use(securityHeaders);
  app.use((req, res, next) => {
    const host = (req.headers.host ?? "").replace(/:\d+$/, "").replace(/^\[(.*)\]$/, "$1");
    if (options.allowedHosts && !options.allowedHosts.includes(host))
      return fail(res, 421, "host_not_allowed", `host ${JSON.stringify(host)} is not served here`);
    // Reads, the API's writes when they are on, and Predict (not a write): anything else is refused here.
    const writable = req.method === "POST" && ((writes && req.path.startsWith("/api/")) || req.path === "/api/predict");
    if (req.method !== "GET" && req.method !== "HEAD" && !writable)
      return fail(res, 405, "method_not_allowed", `${req.method} is not allowed: the console is read-only`);
    next();
  });

  // The kubelet's and the load balancer's probe: the process answers (the stores are checked by the pages).
  app.get("/health", (_req, res) => void res.set("Cache-Control", "no-store").json({ status: "ok" }));

  const api = express.Router();
  api.use((_req, res, next) => {
    res.set("Cache-Control", "no-store");
    next();
  });
  const route = (path: string, answer: (req: Request) => Promise<unknown>): void => {
    api.get(path, (req, res, next) => void answer(req).then((body) => res.json(body), next));
  };
  writeRoutes(api, options.auth, options.writes);
  route("/models", () => modelList(options));
  route("/models/:name", (req) => modelPage(options, String(req.params.name)));
  route("/models/:name/provenance", (req) => provenancePage(options, String(req.params.name)));
  route("/lineage/search", async (req) => {
    const q = typeof req.query.q === "string" ? req.query.q : "";
    await options.beforeLineage?.();
    return lineageSearch(options, q);
  });
  route("/lineage/verify", async (req) => {
    const ref = parseModelRef(typeof req.query.model === "string" ? req.query.model : "");
    if (ref.version === undefined)
      throw new SightlineError("invalid", "version_required", `verify needs NAME:VERSION, not ${ref.name}`);
    await options.beforeLineage?.();
    return verifyModelLineage(options, ref.name, ref.version);
  });
  route("/drift/:name/:version", async (req) =>
    driftHistory(options, String(req.params.name), positive(req.params.version, "version")),
  );
  // A report by its window's number (its id is NAME:VERSION:SEQ, so the full id is accepted too).
  route("/drift/:name/:version/:report", async (req) => {
    const name = String(req.params.name);
    const version = positive(req.params.version, "version");
    const report = String(req.params.report);
    const prefix = `${name}:${version}:`;
    return driftWindowReport(
      options,
      name,
      version,
      positive(report.startsWith(prefix) ? report.slice(prefix.length) : report, "report"),
    );
  });
  pageRoutes(api, options);
  predictRoutes(api, options);
  api.use((req, res) =>
    req.method === "POST"
      ? fail(res, 405, "method_not_allowed", `POST ${req.path} is not a write the console has`)
      : fail(res, 404, "not_found", `no API route ${req.path}`),
  );
  api.use((err: unknown, _req: Request, res: Response, _next: NextFunction) => {
    const status = (err as { status?: number }).status ?? KIND_STATUS[errorKind(err)];
    if (status >= 500) options.log.error("console API request failed", { err });
    const code = (err as { code?: unknown }).code;
    fail(
      res,
      status,
      typeof code === "string" ? code : status === 400 ? "bad_request" : "internal",
      status >= 500 ? "internal error (see the console's log)" : (err as Error).message,
    );
  });
  app.use("/api", api);
  if (options.auth?.login) app.get("/login", options.auth.login);

  if (options.staticDir && existsSync(join(options.staticDir, "index.html"))) {
    const dir = options.staticDir;
    // Hashed assets never change; index.html names the current ones, so it is always revalidated.
    app.use(
      "/assets",
      express.static(join(dir, "assets"), { immutable: true, maxAge: "1y", index: false, fallthrough: false }),
    );
    // `root`: the build lives under node_modules/.cache, and send refuses dot segments in the path it resolves.
    app.get("/", (_req, res, next) =>
      res.set("Cache-Control", "no-cache").sendFile("index.html", { root: dir }, (err) => err && next(err)),
    );
  }
  app.use((req, res) => fail(res, 404, "not_found", `${req.path} is not served here`));
  // Never Express's own error page: it would show a stack trace.
  app.use((err: unknown, _req: Request, res: Response, _next: NextFunction) => {
    const status = (err as { status?: number }).status ?? 500;
    if (status >= 500) options.log.error("console request failed", { err });
    fail(
      res,
      status,
      status === 404 ? "not_found" : "internal",
      status === 404 ? "not found" : "internal error (see the console's log)",
    );
  });
  return app;
}
