import { chmodSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { onPredictionsLogged } from "../../core/drift/detect.ts";
import { DriftPolicySchema } from "../../core/drift/drift-policy.ts";
import {
  binCounts,
  DriftReportNotFoundError,
  testStrength,
  windowReport,
  type NumericHistogram,
  type WindowReportView,
} from "../../core/drift/queries.ts";
import { createLogger } from "../../core/telemetry/logger.ts";
import { blobKey } from "../../core/util/digest.ts";
import { driftWorld, logged, records, reportWithProfile } from "../support/drift-world.ts";

type World = Awaited<ReturnType<typeof driftWorld>>;

/** Total variation distance between two share vectors over the same bins: 0 same, 1 disjoint. */
const tv = (a: number[], b: number[]): number => a.reduce((s, x, i) => s + Math.abs(x - b[i]!), 0) / 2;
const sum = (xs: number[]): number => xs.reduce((a, b) => a + b, 0);

describe("drift read models: each test's strength, one window's report with its histograms", () => {
  let world: World;
  let views: WindowReportView[];
  beforeAll(async () => {
    world = await driftWorld();
    const deps = {
      blobs: world.rt.blobs,
      meta: world.rt.meta,
      bus: world.rt.bus,
      log: createLogger({}, { level: "CRITICAL" }),
      policy: DriftPolicySchema.parse({ window: { size: 300, minSize: 100, maxSeconds: 3600 } }),
    };
    // As the console's world: two quiet windows, then one whose inputs shifted by 1.5 standard deviations.
    const start = Date.parse("2026-11-24T00:00:00Z");
    for (const [i, shift] of [0, 0, 1.5].entries())
      await onPredictionsLogged(deps, logged("shoes", 1, records(300, 10 + i, shift, start + i * 3600_000), `w${i}`));
    views = await Promise.all([1, 2, 3].map((seq) => windowReport(world.rt, "shoes", 1, seq)));
  }, 60_000);
  afterAll(async () => {
    await world.rt.close();
  });

  it("strength is 1 at each test's threshold, above it when drifted, below when not", () => {
    expect(testStrength({ statistic: 0.1, pValue: null, threshold: 0.1 })).toBeCloseTo(1);
    expect(testStrength({ statistic: 0.3, pValue: null, threshold: 0.1 })).toBeCloseTo(3);
    expect(testStrength({ statistic: 1, pValue: 0.05, threshold: 0.05 })).toBeCloseTo(1);
    expect(testStrength({ statistic: 1, pValue: 0.05 ** 2, threshold: 0.05 })).toBeCloseTo(2);
    expect(testStrength({ statistic: 0, pValue: 1, threshold: 0.05 })).toBe(0);
    expect(Number.isFinite(testStrength({ statistic: 9, pValue: 0, threshold: 0.05 }))).toBe(true);
    for (const v of views)
      for (const t of v.verdict.tests)
        expect(t.strength > 1 || (t.strength === 1 && t.pValue === null)).toBe(t.drifted);
  });

  it("gives the window, the verdict and each test; the drifted window is the third", () => {
    expect(views.map((v) => v.verdict.drift)).toEqual([false, false, true]);
    const third = views[2]!;
    expect(third).toMatchObject({ reportId: "shoes:1:3", model: "shoes", version: 1 });
    expect(third.window).toMatchObject({ seq: 3, count: 300, segments: ["w2"] });
    expect(third.verdict.tests.map((t) => t.name)).toEqual([
      "brightness",
      "contrast",
      "sharpness",
      "confidence",
      "predicted_class",
      "embedding",
    ]);
  });

  it("draws a histogram per scalar test with the same bins on both sides, shares summing to 1", () => {
    for (const v of views) {
      if (!v.histograms.ok) throw new Error(v.histograms.error);
      const names = v.histograms.items.map((h) => h.name);
      expect(names).toEqual(["brightness", "contrast", "sharpness", "confidence", "predicted_class"]);
      expect(v.histograms.notDrawn.map((n) => n.name)).toEqual(["embedding"]);
      for (const h of v.histograms.items) {
        expect(h.reference).toHaveLength(h.kind === "numeric" ? h.edges.length - 1 : h.classes.length);
        expect(h.window).toHaveLength(h.reference.length);
        expect(sum(h.reference)).toBeCloseTo(1, 12);
        expect(sum(h.window)).toBeCloseTo(1, 12);
        if (h.kind === "numeric") {
          expect(h.edges).toHaveLength(21);
          expect(h.edges.every((e, i) => i === 0 || e > h.edges[i - 1]!)).toBe(true);
          expect(h.windowCount).toBe(300);
          expect(h.referenceCount).toBe(800);
        }
      }
    }
  });

  it("the drifted window's histograms differ where the inputs shifted; the quiet windows' do not", async () => {
    const numeric = (v: WindowReportView, name: string): NumericHistogram => {
      if (!v.histograms.ok) throw new Error(v.histograms.error);
      return v.histograms.items.find((h): h is NumericHistogram => h.name === name && h.kind === "numeric")!;
    };
    for (const name of ["brightness", "contrast", "sharpness", "confidence"]) {
      const quiet = [views[0]!, views[1]!].map((v) => numeric(v, name));
      const shifted = numeric(views[2]!, name);
      for (const h of [...quiet, shifted]) expect(h.moved).toBeCloseTo(tv(h.reference, h.window), 12);
      for (const h of quiet) expect(h.moved, `${name} quiet`).toBeLessThan(0.15);
      expect(shifted.moved, `${name} shifted`).toBeGreaterThan(0.4);
      // Features moved up (+0.15), the confidence down (−0.3): the window's mean bin lies on that side.
      const centre = (h: NumericHistogram, shares: number[]): number =>
        shares.reduce((s, p, i) => s + (p * (h.edges[i]! + h.edges[i + 1]!)) / 2, 0);
      const moved = centre(shifted, shifted.window) - centre(shifted, shifted.reference);
      if (name === "confidence") expect(moved).toBeLessThan(-0.15);
      else expect(moved).toBeGreaterThan(0.1);
    }
    // The shifted window predicts "bag" about half the time and more: its share is far above the reference's.
    const classes = views.map((v) => (v.histograms.ok ? v.histograms.items.find((h) => h.kind === "classes")! : null));
    expect(classes[2]!.classes).toEqual(["bag", "coat", "dress"]);
    expect(classes[2]!.window[0]! - classes[2]!.reference[0]!).toBeGreaterThan(0.25);
    expect(Math.abs(classes[0]!.window[0]! - classes[0]!.reference[0]!)).toBeLessThan(0.1);
  });

  it("bins values as numpy.histogram does: the last bin is closed, values outside are not counted", () => {
    expect(binCounts([0, 0.5, 0.99, 1, 2, 3, -1, 3.5], [0, 1, 2, 3])).toEqual([3, 1, 2]);
  });

  it("an unknown window is not found, with a message that says where the windows are", async () => {
    await expect(windowReport(world.rt, "shoes", 1, 9)).rejects.toThrow(DriftReportNotFoundError);
    await expect(windowReport(world.rt, "boots", 1, 1)).rejects.toThrow(/no drift report boots:1:1/);
  });

  it("a missing or corrupt profile: the report stands, its histograms say why they are missing", async () => {
    const withProfile = async (model: string, profileDigest: string): Promise<WindowReportView> => {
      await reportWithProfile(world.rt, "shoes:1:3", model, profileDigest);
      return windowReport(world.rt, model, 1, 3);
    };

    const missing = await withProfile("lost", `sha256:${"0".repeat(64)}`);
    expect(missing.verdict.drift).toBe(true);
    expect(missing.verdict.tests).toHaveLength(6);
    expect(missing.histograms).toEqual({
      ok: false,
      error: expect.stringMatching(/^the reference profile sha256:0{64} cannot be read: blob .* not found/),
    });

    const { digest: notAProfile } = await world.rt.blobs.put(Buffer.from(JSON.stringify({ schema: "nope" })));
    const invalid = await withProfile("invalid", notAProfile);
    expect(invalid.histograms).toMatchObject({ ok: false, error: expect.stringMatching(/not a valid profile/) });

    // Bytes changed on disk after they were stored: the blob store's own check refuses them.
    const { digest: doomed } = await world.rt.blobs.put(Buffer.from('{"schema":"doomed"}'));
    const file = join(world.home, "blobs", blobKey(doomed));
    chmodSync(file, 0o644);
    writeFileSync(file, "tampered");
    const corrupt = await withProfile("corrupt", doomed);
    expect(corrupt.histograms).toMatchObject({ ok: false, error: expect.stringMatching(/is corrupt/) });
    expect(corrupt.window.count).toBe(300);
  });
});
