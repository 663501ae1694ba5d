import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { IncomingHttpHeaders } from "node:http";
import type { RequestHandler } from "express";
import { createRemoteJWKSet, errors as joseErrors, jwtVerify } from "jose";

/** Who is writing: the actor named in audit records. */
export type Identity = { actor: string; via: "local" | "iap" };

/** A refusal with its own HTTP status (401, 403, 503): the console's error handler answers with it. */
export class HttpError extends Error {
  readonly status: number;
  readonly code: string;
  constructor(status: number, code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.status = status;
    this.code = code;
  }
}

export interface ConsoleAuth {
  mode: "local" | "iap";
  /** The identity a request carries, undefined when none; throws HttpError on a credential that fails its check. */
  identify(headers: IncomingHttpHeaders): Promise<Identity | undefined>;
  /** The CSRF token bound to the request's session (a write must echo it in a header). */
  csrfFor(headers: IncomingHttpHeaders, identity: Identity): string;
  /** `GET /login`: trades the local token for a session cookie. */
  login?: RequestHandler;
}

const equal = (a: string, b: string): boolean => {
  const x = createHash("sha256").update(a).digest();
  const y = createHash("sha256").update(b).digest();
  return timingSafeEqual(x, y);
};

const random = (): string => randomBytes(32).toString("base64url");

export const SESSION_COOKIE = "sightline_session";
const SESSION_MS = 12 * 3600_000;
const MAX_SESSIONS = 64;
export const TOKEN_FILE = "console-token";

/** The local token under `home`, created once (0600: only this user reads it). */
export function localToken(home: string): { token: string; path: string; created: boolean } {
  const path = join(home, TOKEN_FILE);
  mkdirSync(home, { recursive: true });
  try {
    writeFileSync(path, `${random()}\n`, { mode: 0o600, flag: "wx" });
    return { token: readFileSync(path, "utf8").trim(), path, created: true };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
  }
  // A token written by an older umask or copied around: tighten it rather than trust it to stay private.
  chmodSync(path, 0o600);
  return { token: readFileSync(path, "utf8").trim(), path, created: false };
}

function cookie(headers: IncomingHttpHeaders, name: string): string | undefined {
  for (const part of (headers.cookie ?? "").split(";")) {
    const [k, ...v] = part.trim().split("=");
    if (k === name) return v.join("=");
  }
  return undefined;
}

/**
 * The embedded default: whoever can read the token file is the local user (`actor`). Opening `/login?token=…`
 * once trades it for a session cookie (HttpOnly, SameSite=Strict) and redirects, so the token never reaches a
 * page, a script or a Referer. Sessions live in memory: a restart signs everyone out.
 */
export function localAuth(token: string, actor: string): ConsoleAuth {
  const sessions = new Map<string, { csrf: string; expires: number }>();
  const session = (headers: IncomingHttpHeaders) => {
    const id = cookie(headers, SESSION_COOKIE);
    const s = id === undefined ? undefined : sessions.get(id);
    if (s && s.expires > Date.now()) return s;
    if (id !== undefined) sessions.delete(id);
    return undefined;
  };
  return {
    mode: "local",
    identify: (headers) => Promise.resolve(session(headers) ? { actor, via: "local" } : undefined),
    csrfFor: (headers) => session(headers)?.csrf ?? "",
    login: (req, res) => {
      res.set("Cache-Control", "no-store");
      const given = typeof req.query.token === "string" ? req.query.token : "";
      if (!equal(given, token)) {
        res.status(401).json({ error: { code: "token_invalid", message: "that is not this console's token" } });
        return;
      }
      const now = Date.now();
      for (const [k, v] of sessions) if (v.expires <= now) sessions.delete(k);
      // A link opened again and again must not grow the map without end: the oldest session goes first.
      if (sessions.size >= MAX_SESSIONS) sessions.delete(sessions.keys().next().value!);
      const id = random();
      sessions.set(id, { csrf: random(), expires: now + SESSION_MS });
      res.cookie(SESSION_COOKIE, id, {
        httpOnly: true,
        sameSite: "strict",
        secure: req.secure,
        path: "/",
        maxAge: SESSION_MS,
      });
      res.redirect(303, "/");
    },
  };
}

export const IAP_ISSUER = "https://cloud.google.com/iap";
export const IAP_HEADER = "x-goog-iap-jwt-assertion";

/**
 * Behind Identity-Aware Proxy: IAP signs every request it lets through (ES256, `aud` = the backend service);
 * the identity is the token's email. A request that came around IAP carries no valid header and cannot write.
 * The CSRF token is derived from the identity with this process's key (one replica, or a restart re-issues it).
 */
export function iapAuth(audience: string, jwksUrl: string): ConsoleAuth {
  const keys = createRemoteJWKSet(new URL(jwksUrl));
  const key = randomBytes(32);
  return {
    mode: "iap",
    async identify(headers) {
      const assertion = headers[IAP_HEADER];
      if (typeof assertion !== "string" || assertion === "") return undefined;
      try {
        const { payload } = await jwtVerify(assertion, keys, {
          issuer: IAP_ISSUER,
          audience,
          algorithms: ["ES256"],
          clockTolerance: 30,
        });
        if (typeof payload.email !== "string" || payload.email === "")
          throw new HttpError(401, "iap_assertion_invalid", "IAP's assertion names no email");
        return { actor: payload.email, via: "iap" };
      } catch (err) {
        if (err instanceof HttpError) throw err;
        if (err instanceof joseErrors.JWTExpired)
          throw new HttpError(401, "iap_assertion_expired", "IAP's assertion has expired", { cause: err });
        if (err instanceof joseErrors.JWTClaimValidationFailed)
          throw new HttpError(401, "iap_assertion_invalid", `IAP's assertion: the ${err.claim} claim is not accepted`, {
            cause: err,
          });
        if (err instanceof joseErrors.JOSEError && !(err instanceof joseErrors.JWKSTimeout))
          throw new HttpError(401, "iap_assertion_invalid", "IAP's assertion is not validly signed", { cause: err });
        // The keys could not be fetched: not the caller's fault, and not a reason to let them in.
        throw new HttpError(503, "iap_keys_unavailable", "cannot verify IAP's assertion right now; try again shortly", {
          cause: err,
        });
      }
    },
    csrfFor: (_headers, identity) => createHash("sha256").update(key).update(identity.actor).digest("base64url"),
  };
}
