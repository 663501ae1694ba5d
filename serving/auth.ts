import { createHash, timingSafeEqual } from "node:crypto";
import type { RequestHandler } from "express";
import { createRemoteJWKSet, errors as joseErrors, jwtVerify } from "jose";
import type { ServeAuth } from "./config.ts";
import { ApiError } from "./errors.ts";

/** Probes answer without credentials: the kubelet and load balancer health checks carry none. */
export const OPEN_PATHS: ReadonlySet<string> = new Set(["/health", "/ready", "/v2/health/live", "/v2/health/ready"]);

// Google signs ID tokens with either issuer spelling (https://developers.google.com/identity/openid-connect/openid-connect#validatinganidtoken).
const GOOGLE_ISSUERS = ["accounts.google.com", "https://accounts.google.com"];

const REALM = 'realm="sightline"';

/**
 * Authentication of the inference routes, as Vertex AI and KServe users expect: a Google-signed ID token for the
 * configured audience (`Authorization: Bearer <token>`), or an API key (`Authorization: Bearer <key>` or
 * `x-api-key`) whose SHA-256 is one of the configured hashes. Missing or invalid credentials get 401 with
 * `WWW-Authenticate`. `/admin/*` has its own token and the probes stay open.
 */
export function authenticate(auth: ServeAuth): RequestHandler | undefined {
  if (auth.mode === "none") return undefined;
  const check = auth.mode === "api-key" ? apiKeyCheck(auth.keyHashes) : idTokenCheck(auth.audience, auth.jwksUrl);
  return (req, res, next) => {
    if (OPEN_PATHS.has(req.path) || req.path.startsWith("/admin/")) return next();
    const bearer = /^Bearer\s+(\S+)\s*$/i.exec(req.headers.authorization ?? "")?.[1];
    const apiKey = req.headers["x-api-key"];
    const credential = bearer ?? (typeof apiKey === "string" && apiKey !== "" ? apiKey : undefined);
    if (credential === undefined) {
      res.setHeader("www-authenticate", `Bearer ${REALM}`);
      return next(
        new ApiError(
          "unauthorized",
          auth.mode === "api-key"
            ? "an API key is required (Authorization: Bearer KEY, or x-api-key)"
            : "a Google ID token is required (Authorization: Bearer TOKEN)",
        ),
      );
    }
    check(credential).then(
      () => next(),
      (err: unknown) => {
        const refused =
          err instanceof ApiError
            ? err
            : new ApiError("unauthorized", "the credential could not be verified", { cause: err });
        if (refused.code === "unauthorized")
          res.setHeader(
            "www-authenticate",
            `Bearer ${REALM}, error="invalid_token", error_description="${refused.message.replace(/["\\]/g, "")}"`,
          );
        next(refused);
      },
    );
  };
}

/** Keys are never stored, only their SHA-256; every stored hash is compared, in constant time. */
function apiKeyCheck(hashes: string[]): (key: string) => Promise<void> {
  const stored = hashes.map((h) => Buffer.from(h, "hex"));
  return async (key) => {
    const given = createHash("sha256").update(key, "utf8").digest();
    let ok = false;
    for (const h of stored) ok = timingSafeEqual(given, h) || ok;
    if (!ok) throw new ApiError("unauthorized", "the API key is not valid");
  };
}

/** Signature against Google's JWKS (fetched and cached by jose), issuer, audience and expiry. */
function idTokenCheck(audience: string, jwksUrl: string): (token: string) => Promise<void> {
  const keys = createRemoteJWKSet(new URL(jwksUrl));
  return async (token) => {
    try {
      await jwtVerify(token, keys, { issuer: GOOGLE_ISSUERS, audience, algorithms: ["RS256"], clockTolerance: 30 });
    } catch (err) {
      if (err instanceof joseErrors.JWTExpired)
        throw new ApiError("unauthorized", "the ID token has expired", { cause: err });
      if (err instanceof joseErrors.JWTClaimValidationFailed)
        throw new ApiError("unauthorized", `the ID token's ${err.claim} claim is not accepted`, { cause: err });
      if (err instanceof joseErrors.JOSEError && !(err instanceof joseErrors.JWKSTimeout))
        throw new ApiError("unauthorized", "the ID token is not a valid Google-signed token", { cause: err });
      // Google's keys could not be fetched: not the caller's fault, and not a reason to let them in.
      throw new ApiError(
        "not_ready",
        "cannot verify ID tokens right now (Google's signing keys are unavailable); try again shortly",
        { cause: err },
      );
    }
  };
}
