import type { AddressInfo } from "node:net";
import express from "express";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BlobCorruptError } from "../../core/blobs/blob-store.ts";
import { ConfigError } from "../../core/config/config.ts";
import { ERROR_KINDS, SightlineError, type ErrorKind } from "../../core/errors.ts";
import { ConflictError } from "../../core/meta/metadata-store.ts";
import { ModelNotFoundError } from "../../core/registry/model-version.ts";
import { createLogger } from "../../core/telemetry/logger.ts";
import { finish } from "../../serving/app.ts";
import { QueueFullError } from "../../serving/batcher.ts";
import {
  answerFor,
  API_ERROR_KIND,
  ApiError,
  ERROR_STATUS,
  INTERNAL_MESSAGE,
  KIND_STATUS,
  type ClientErrorCode,
} from "../../serving/errors.ts";

describe("serving: error kind → HTTP status", () => {
  it("is one table: invalid 400, not_found 404, conflict 409, unavailable 503, corrupt, config and bugs 500", () => {
    expect(KIND_STATUS).toEqual({
      invalid: 400,
      not_found: 404,
      conflict: 409,
      unavailable: 503,
      corrupt: 500,
      config: 500,
      internal: 500,
    });
    for (const kind of Object.keys(ERROR_KINDS) as ErrorKind[])
      expect(answerFor(new SightlineError(kind, "x", "m")).status).toBe(KIND_STATUS[kind]);
    expect(answerFor(new Error("a bug"))).toEqual({
      code: "internal",
      status: 500,
      message: INTERNAL_MESSAGE,
      headers: {},
    });
  });

  it("an API code refines its kind's status, never contradicts it", () => {
    for (const [code, kind] of Object.entries(API_ERROR_KIND) as [ClientErrorCode, ErrorKind][]) {
      const status = ERROR_STATUS[code];
      if (kind === "invalid") expect(status >= 400 && status < 500, code).toBe(true);
      else expect(status, code).toBe(KIND_STATUS[kind]);
      expect(new ApiError(code, "m").kind).toBe(kind);
    }
  });

  it("keeps an ApiError's own code, status, message and headers", () => {
    const err = new ApiError("too_many_pixels", "too big", { headers: { "x-a": "1" } });
    expect(answerFor(err)).toEqual({
      code: "too_many_pixels",
      status: 413,
      message: "too big",
      headers: { "x-a": "1" },
    });
    expect(answerFor(new ApiError("unsupported_media_type", "svg")).status).toBe(415);
    expect(answerFor(new ApiError("unauthorized", "no")).status).toBe(401);
    expect(answerFor(new ApiError("invalid_tensor", "shape")).status).toBe(422);
  });

  it("shows the message of a client's error, not of the server's own", () => {
    expect(answerFor(new ModelNotFoundError("m:9"))).toMatchObject({
      code: "not_found",
      status: 404,
      message: "m:9 is not registered (see `sightline models list`)",
    });
    expect(answerFor(new ConflictError("lost the race"))).toMatchObject({
      code: "conflict",
      status: 409,
      message: "lost the race",
    });
    const corrupt = answerFor(new BlobCorruptError("sha256:a", "sha256:b", "/srv/secret/path"));
    expect(corrupt).toMatchObject({ code: "internal", status: 500, message: INTERNAL_MESSAGE });
    expect(answerFor(new ConfigError("SIGHTLINE_X=/srv/secret")).message).not.toContain("secret");
    expect(answerFor(new SightlineError("unavailable", "store_down", "firestore projects/p is down"))).toMatchObject({
      code: "unavailable",
      status: 503,
    });
    expect(
      answerFor(new SightlineError("unavailable", "store_down", "firestore projects/p is down")).message,
    ).not.toContain("projects/p");
  });
});

describe("serving: the error handler answers by kind, in each protocol's body shape", () => {
  let url: string;
  let close: () => Promise<void>;
  beforeAll(async () => {
    const app = express();
    const thrower =
      (err: unknown): express.RequestHandler =>
      () => {
        throw err;
      };
    app.get("/missing", thrower(new ModelNotFoundError("m:9")));
    app.get("/v2/models/m/missing", thrower(new ModelNotFoundError("m:9")));
    app.get("/full", thrower(new QueueFullError(256)));
    app.get("/corrupt", thrower(new BlobCorruptError("sha256:a", "sha256:b", "/srv/blobs/a")));
    finish(app, createLogger({}, { level: "CRITICAL" }));
    const server = app.listen(0, "127.0.0.1");
    await new Promise<void>((resolve) => server.once("listening", resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    close = () => new Promise((resolve) => server.close(() => resolve()));
  });
  afterAll(async () => close());

  it("answers a not_found error 404 with Sightline's body, and OIP's bare message under /v2", async () => {
    const own = await fetch(`${url}/missing`);
    expect(own.status).toBe(404);
    expect(await own.json()).toEqual({
      error: { code: "not_found", message: "m:9 is not registered (see `sightline models list`)" },
    });
    const oip = await fetch(`${url}/v2/models/m/missing`);
    expect(oip.status).toBe(404);
    expect(await oip.json()).toEqual({ error: "m:9 is not registered (see `sightline models list`)" });
  });

  it("keeps 503 overloaded with Retry-After, and answers corrupt data 500 without its path", async () => {
    const full = await fetch(`${url}/full`);
    expect(full.status).toBe(503);
    expect(full.headers.get("retry-after")).toBe("1");
    expect(((await full.json()) as { error: { code: string } }).error.code).toBe("overloaded");
    const corrupt = await fetch(`${url}/corrupt`);
    expect(corrupt.status).toBe(500);
    expect(await corrupt.json()).toEqual({ error: { code: "internal", message: INTERNAL_MESSAGE } });
  });

  it("still answers unknown routes 404 not_found", async () => {
    const res = await fetch(`${url}/nowhere`);
    expect(res.status).toBe(404);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe("not_found");
  });
});
