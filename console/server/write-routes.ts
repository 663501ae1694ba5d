import { timingSafeEqual } from "node:crypto";
import express, { type Request, type RequestHandler, type Router } from "express";
import type { z } from "zod";
import { CSRF_HEADER, DecisionBody, PromoteBody, RollbackBody, Session, WriteResult } from "../api/write-schemas.ts";
import { HttpError, type ConsoleAuth, type Identity } from "./identity.ts";
import { decidePending, promoteVersion, rollbackModel, type WriteDeps } from "./writes.ts";

export const sameToken = (a: string, b: string): boolean =>
  a !== "" && Buffer.byteLength(a) === Buffer.byteLength(b) && timingSafeEqual(Buffer.from(a), Buffer.from(b));

/**
 * A write comes from this console's own page or not at all: the browser says where it came from (Sec-Fetch-Site,
 * Origin) and the page proves it read the session (the CSRF header, which no other site can read or send without
 * a CORS grant we never give). The session cookie is SameSite=Strict on top.
 */
export function refuseCrossSite(req: Request): void {
  const site = req.headers["sec-fetch-site"];
  if (site !== undefined && site !== "same-origin")
    throw new HttpError(403, "cross_site", `a write from another site (${site}) is refused`);
  const origin = req.headers.origin;
  if (origin === undefined) return;
  let host: string | undefined;
  try {
    host = new URL(origin).host;
  } catch {
    host = undefined;
  }
  // The host, not the scheme: behind IAP's load balancer the browser speaks HTTPS and the console sees HTTP.
  if (host === undefined || host !== req.headers.host)
    throw new HttpError(403, "cross_site", `a write from origin ${JSON.stringify(origin)} is refused`);
}

function parse<S extends z.ZodType>(schema: S, body: unknown): z.infer<S> {
  const r = schema.safeParse(body ?? {});
  if (!r.success)
    throw new HttpError(
      400,
      "body_invalid",
      r.error.issues.map((i) => `${i.path.join(".") || "body"}: ${i.message}`).join("; "),
    );
  return r.data;
}

/** `GET /api/session` and the writes, each needing an identity (401) and passing the CSRF checks (403). */
export function writeRoutes(api: Router, auth: ConsoleAuth | undefined, deps: WriteDeps | undefined): void {
  api.get("/session", (req, res, next) => {
    if (!auth || !deps) return void res.json(Session.parse({ mode: "off", actor: null, csrf: null }));
    auth.identify(req.headers).then(
      (who) =>
        res.json(
          Session.parse({
            mode: auth.mode,
            actor: who?.actor ?? null,
            csrf: who ? auth.csrfFor(req.headers, who) : null,
          }),
        ),
      next,
    );
  });
  if (!auth || !deps) return;

  const write = (path: string, answer: (who: Identity, req: Request) => Promise<WriteResult>): void => {
    const handler: RequestHandler = (req, res, next) =>
      void (async () => {
        refuseCrossSite(req);
        const who = await auth.identify(req.headers);
        if (!who) throw new HttpError(401, "unauthenticated", "sign in to write: open the link `sightline ui` printed");
        const given = req.headers[CSRF_HEADER];
        if (typeof given !== "string" || !sameToken(given, auth.csrfFor(req.headers, who)))
          throw new HttpError(
            403,
            "csrf_invalid",
            `the ${CSRF_HEADER} header is missing or does not match the session`,
          );
        return WriteResult.parse(await answer(who, req));
      })().then((body) => res.json(body), next);
    api.post(path, express.json({ limit: "16kb", type: "application/json" }), handler);
  };
  const name = (req: Request): string => String(req.params.name);
  write("/models/:name/promote", (who, req) => promoteVersion(deps, who, name(req), parse(PromoteBody, req.body)));
  write("/models/:name/rollback", (who, req) => rollbackModel(deps, who, name(req), parse(RollbackBody, req.body)));
  write("/decisions/:id/approve", (who, req) =>
    decidePending(deps, who, String(req.params.id), true, parse(DecisionBody, req.body)),
  );
  write("/decisions/:id/reject", (who, req) =>
    decidePending(deps, who, String(req.params.id), false, parse(DecisionBody, req.body)),
  );
}
