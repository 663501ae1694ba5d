import { describe, expect, it } from "vitest";
import { DatasetId, Digest, isDatasetId, MODEL_REF, ModelName, ModelRefText, Sha256Hex } from "../../core/ids.ts";
import { parseModelRef } from "../../core/registry/model-version.ts";
import { digestHex } from "../../core/util/digest.ts";

const hex = "0123456789abcdef".repeat(4);

describe("identifier schemas", () => {
  it("a dataset id and a SHA-256 are 64 lower-case hex digits", () => {
    for (const schema of [DatasetId, Sha256Hex]) {
      expect(schema.safeParse(hex).success).toBe(true);
      for (const bad of [hex.toUpperCase(), hex.slice(1), `${hex}0`, `sha256:${hex}`, ""])
        expect(schema.safeParse(bad).success, bad).toBe(false);
    }
    expect(isDatasetId(hex)).toBe(true);
    expect(isDatasetId(`./${hex}`)).toBe(false);
  });

  it("a digest is sha256:<64 hex>, and digestHex takes it apart with the same pattern", () => {
    expect(Digest.safeParse(`sha256:${hex}`).success).toBe(true);
    expect(Digest.safeParse(hex).success).toBe(false);
    expect(digestHex(`sha256:${hex}`)).toBe(hex);
    expect(() => digestHex(`sha256:${hex.toUpperCase()}`)).toThrow();
  });

  it("a model name is a lower-case slug of at most 63 characters", () => {
    for (const ok of ["fmnist", "a", "resnet-18", "9lives", "x".repeat(63)])
      expect(ModelName.safeParse(ok).success, ok).toBe(true);
    for (const bad of ["-x", "Fmnist", "a_b", "x".repeat(64), ""])
      expect(ModelName.safeParse(bad).success, bad).toBe(false);
  });

  it("a model reference is NAME, NAME@ALIAS or NAME:VERSION", () => {
    expect(MODEL_REF.exec("fmnist@production")?.slice(1)).toEqual(["fmnist", "production", undefined]);
    expect(MODEL_REF.exec("fmnist:12")?.slice(1)).toEqual(["fmnist", undefined, "12"]);
    for (const bad of ["fmnist:0", "fmnist@", "fmnist@1x", "fmnist:1@a"])
      expect(ModelRefText.safeParse(bad).success, bad).toBe(false);
    expect(parseModelRef("fmnist:3")).toEqual({ name: "fmnist", version: 3 });
    expect(() => parseModelRef("fmnist:0")).toThrow(/NAME:VERSION/);
  });
});
