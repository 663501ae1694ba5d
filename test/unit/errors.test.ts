import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BlobCorruptError, BlobNotFoundError, type BlobStore } from "../../core/blobs/blob-store.ts";
import { ConfigError } from "../../core/config/config.ts";
import { DatasetNotFoundError } from "../../core/datasets/load.ts";
import { DriftInputError } from "../../core/drift/compare.ts";
import { ProfileInputError } from "../../core/drift/profile.ts";
import { errorKind, isSightlineError, SightlineError } from "../../core/errors.ts";
import { InvalidEventError } from "../../core/events/envelope.ts";
import { UnsupportedImageFormatError } from "../../core/imaging/formats.ts";
import { AmbiguousPredictionError, LineageNotFoundError } from "../../core/lineage/queries.ts";
import { OpenLineageExportError } from "../../core/lineage/transport.ts";
import { verifyModelLineage, VerifyTargetNotFoundError } from "../../core/lineage/verify.ts";
import { ConflictError } from "../../core/meta/metadata-store.ts";
import { ModelNotFoundError } from "../../core/registry/model-version.ts";
import { DecisionInProgressError } from "../../core/registry/promote.ts";
import { RollbackError } from "../../core/registry/rollback.ts";
import { DriftMetricsError } from "../../core/telemetry/drift-metrics.ts";
import { grpcCode, grpcKind } from "../../core/util/grpc.ts";
import { digestOf } from "../../core/util/digest.ts";
import { lineageWorld, MODEL, type LineageWorld } from "../support/lineage-world.ts";

describe("Sightline's error classes", () => {
  const cases: [SightlineError, string, string, string][] = [
    [new ConfigError("SIGHTLINE_META: bad"), "ConfigError", "config", "config_invalid"],
    [new InvalidEventError("not JSON"), "InvalidEventError", "invalid", "invalid_event"],
    [
      new UnsupportedImageFormatError("svg", ["png"]),
      "UnsupportedImageFormatError",
      "invalid",
      "unsupported_image_format",
    ],
    [
      new UnsupportedImageFormatError(undefined, ["png"]),
      "UnsupportedImageFormatError",
      "invalid",
      "unknown_image_format",
    ],
    [new DatasetNotFoundError("f".repeat(64)), "DatasetNotFoundError", "not_found", "dataset_not_found"],
    [new ConflictError("lost"), "ConflictError", "conflict", "conflict"],
    [new DriftInputError("no features"), "DriftInputError", "invalid", "drift_input_invalid"],
    [new ProfileInputError("empty"), "ProfileInputError", "invalid", "profile_input_invalid"],
    [new ModelNotFoundError("m:1"), "ModelNotFoundError", "not_found", "model_not_found"],
    [new RollbackError("no reason"), "RollbackError", "invalid", "rollback_refused"],
    [
      new DecisionInProgressError("d", "2026-01-01T00:00:00Z"),
      "DecisionInProgressError",
      "conflict",
      "decision_in_progress",
    ],
    [new BlobNotFoundError("sha256:00", "/tmp/blobs"), "BlobNotFoundError", "not_found", "blob_not_found"],
    [new BlobCorruptError("sha256:00", "sha256:11", "/tmp/blobs/x"), "BlobCorruptError", "corrupt", "blob_corrupt"],
    [new VerifyTargetNotFoundError("model m:1"), "VerifyTargetNotFoundError", "not_found", "verify_target_not_found"],
    [new LineageNotFoundError("model m:1"), "LineageNotFoundError", "not_found", "lineage_not_found"],
    [new AmbiguousPredictionError("r", []), "AmbiguousPredictionError", "not_found", "prediction_ambiguous"],
    [new OpenLineageExportError("POST failed"), "OpenLineageExportError", "unavailable", "openlineage_export_failed"],
    [
      new OpenLineageExportError("not a URL", { kind: "config" }),
      "OpenLineageExportError",
      "config",
      "openlineage_config",
    ],
    [new DriftMetricsError("bad point"), "DriftMetricsError", "invalid", "drift_metric_invalid"],
    [
      new DriftMetricsError("outage", { kind: "unavailable", grpcCode: 14 }),
      "DriftMetricsError",
      "unavailable",
      "drift_metrics_failed",
    ],
  ];

  it.each(cases)("%s is a SightlineError named %s, kind %s, code %s", (err, name, kind, code) => {
    expect(err).toBeInstanceOf(SightlineError);
    expect(err).toBeInstanceOf(Error);
    expect(isSightlineError(err)).toBe(true);
    expect(err.name).toBe(name);
    expect(err.kind).toBe(kind);
    expect(errorKind(err)).toBe(kind);
    expect(err.code).toBe(code);
    expect(err.code).toMatch(/^[a-z]+(_[a-z]+)*$/);
  });

  it("keeps subclass instanceof checks and the cause", () => {
    const cause = new Error("socket closed");
    const err = new ConfigError("wrong", { cause });
    expect(err.cause).toBe(cause);
    expect(new AmbiguousPredictionError("r", [])).toBeInstanceOf(LineageNotFoundError);
    expect(errorKind(new Error("bug"))).toBe("internal");
    expect(errorKind("a string")).toBe("internal");
  });

  it("BlobCorruptError carries the expected and actual digests and where it was read", () => {
    const err = new BlobCorruptError("sha256:aa", "sha256:bb", "gs://bucket/blobs/sha256/aa/aa");
    expect(err).toMatchObject({
      digest: "sha256:aa",
      expected: "sha256:aa",
      actual: "sha256:bb",
      location: "gs://bucket/blobs/sha256/aa/aa",
    });
  });

  it("DriftMetricsError keeps the gRPC status apart from its own code", () => {
    const err = new DriftMetricsError("refused", { grpcCode: 3, kind: grpcKind(3) });
    expect(err.code).toBe("drift_metric_invalid");
    expect(grpcCode(err)).toBe(3);
    expect(grpcCode({ code: 14 })).toBe(14);
    expect([grpcKind(3), grpcKind(7), grpcKind(14), grpcKind(undefined)]).toEqual([
      "invalid",
      "config",
      "unavailable",
      "unavailable",
    ]);
  });
});

describe("lineage verify reads a corrupt blob's digest from the error", () => {
  let w: LineageWorld;
  beforeAll(async () => {
    w = await lineageWorld();
  });
  afterAll(async () => w.close());

  it("takes `actual` from BlobCorruptError's field, whatever its message says", async () => {
    const actual = digestOf("what the bytes hash to now");
    const corrupt = new BlobCorruptError(w.v2.modelDigest, actual, "somewhere");
    // A message that names no digest: a parser of the message would report "corrupt" or nothing.
    corrupt.message = "the model file is damaged";
    const blobs: BlobStore = Object.create(w.blobs as object) as BlobStore;
    blobs.get = async (digest: string) => {
      if (digest === w.v2.modelDigest) throw corrupt;
      return w.blobs.get(digest);
    };
    const result = await verifyModelLineage({ blobs, meta: w.meta }, MODEL, 2);
    expect(result.ok).toBe(false);
    expect(result.checks.filter((c) => !c.ok)).toEqual([
      expect.objectContaining({
        check: "model file",
        expected: w.v2.modelDigest,
        actual,
        detail: "the model file is damaged",
      }),
    ]);
  });
});
