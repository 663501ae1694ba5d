import { describe, expect, it } from "vitest";
import { ceilingLine, formatRatio, meets, ratioLine } from "../../bench/targets.ts";

describe("bench ratio lines", () => {
  it("shows two decimals, and a third when two would round a miss up to the target", () => {
    expect(formatRatio(0.8612, 0.9)).toBe("0.86");
    expect(formatRatio(0.897, 0.9)).toBe("0.897");
    expect(formatRatio(1.5951, 1.6)).toBe("1.595");
    expect(formatRatio(0.89996, 0.9)).toBe("0.89996");
    // A pass that rounds to the target keeps two decimals: the digits and the verdict agree.
    expect(formatRatio(1.6049, 1.6)).toBe("1.60");
    expect(formatRatio(Number.NaN, 1.6)).toBe("n/a");
  });

  it("meets a target only at or above it, and never when unmeasured", () => {
    expect(meets(0.9, 0.9)).toBe(true);
    expect(meets(0.8999, 0.9)).toBe(false);
    expect(meets(Number.NaN, 0.9)).toBe(false);
    expect(meets(Number.POSITIVE_INFINITY, 0.9)).toBe(false);
  });

  it("prints the ratio, what it compares with, the target and the verdict", () => {
    expect(ratioLine(0.897, 0.9, "the raw pipeline's img/s")).toBe(
      "ratio        0.897× the raw pipeline's img/s   target ≥ 0.9×   MISSED",
    );
    expect(ratioLine(2.274, 1.6, "the peer's req/s")).toBe("ratio        2.27× the peer's req/s   target ≥ 1.6×   met");
  });

  it("says whether the raw pipeline's own ratio to the peer leaves a target against the peer reachable", () => {
    expect(ceilingLine(32.2 / 23.8, 1.6)).toBe(
      "  ceiling    the raw pipeline alone is 1.35× the peer's rate: no server running it can reach 1.6× here",
    );
    expect(ceilingLine(1.8, 1.6)).toBe(
      "  ceiling    the raw pipeline alone is 1.80× the peer's rate: the 1.6× target is within reach",
    );
    expect(ceilingLine(Number.NaN, 1.6)).toBe("  ceiling    the raw pipeline alone is n/a× the peer's rate: unknown");
  });
});
