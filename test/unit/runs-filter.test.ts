import { describe, expect, it } from "vitest";
import { isSightlineError } from "../../core/errors.ts";
import { FilterError, matchesFilter, parseRunFilter, type FilterSubject } from "../../core/runs/filter.ts";

const run: FilterSubject = {
  status: "succeeded",
  model: "fmnist",
  datasetId: "a".repeat(64),
  requestId: "req-1",
  trainer: "builtin",
  metrics: { accuracy: 0.93, "recall/bag": 0.8, epoch: 3 },
  params: {
    epochs: 3,
    "preprocessing.width": 28,
    schedule: "cosine",
    "augmentation.flipHorizontal": false,
    lr: "0.001",
  },
  tags: { trigger: "drift" },
};

const matches = (text: string) => matchesFilter(parseRunFilter(text), run);

function parseError(text: string): FilterError {
  try {
    parseRunFilter(text);
  } catch (err) {
    if (err instanceof FilterError) return err;
    throw err;
  }
  throw new Error(`${text} parsed`);
}

describe("runs filter", () => {
  it("parses the MLflow-style grammar into a typed AST", () => {
    expect(
      parseRunFilter(
        'metrics.accuracy > 0.9 and params.epochs = 3 and tags.trigger = "drift" and status = "succeeded"',
      ),
    ).toEqual({
      and: [
        { field: { scope: "metrics", key: "accuracy" }, op: ">", value: 0.9 },
        { field: { scope: "params", key: "epochs" }, op: "=", value: 3 },
        { field: { scope: "tags", key: "trigger" }, op: "=", value: "drift" },
        { field: { scope: "attribute", key: "status" }, op: "=", value: "succeeded" },
      ],
    });
    expect(parseRunFilter("metrics.`recall/bag x`>=1e-3 AND params.preprocessing.width<=28")).toEqual({
      and: [
        { field: { scope: "metrics", key: "recall/bag x" }, op: ">=", value: 0.001 },
        { field: { scope: "params", key: "preprocessing.width" }, op: "<=", value: 28 },
      ],
    });
    expect(parseRunFilter("tags.note != 'it\\'s'").and[0]).toEqual({
      field: { scope: "tags", key: "note" },
      op: "!=",
      value: "it's",
    });
    expect(parseRunFilter("  ")).toEqual({ and: [] });
  });

  it("matches runs: numbers numerically, text as text, a missing key never", () => {
    expect(
      matches('metrics.accuracy > 0.9 and params.epochs = 3 and tags.trigger = "drift" and status = "succeeded"'),
    ).toBe(true);
    expect(matches("metrics.accuracy > 0.95")).toBe(false);
    expect(matches("metrics.recall/bag = 0.8")).toBe(true);
    expect(matches("params.preprocessing.width < 100")).toBe(true);
    expect(matches('params.schedule = "cosine" and params.augmentation.flipHorizontal = "false"')).toBe(true);
    // A param stored as numeric text still compares as a number.
    expect(matches("params.lr < 0.01")).toBe(true);
    expect(matches('params.epochs = "3"')).toBe(true);
    expect(matches('model = "fmnist" and trainer = "builtin" and dataset >= "a" and request = "req-1"')).toBe(true);
    expect(matches("metrics.val_accuracy < 2")).toBe(false);
    expect(matches('tags.absent != "x"')).toBe(false);
    expect(matches('tags.trigger != "drift"')).toBe(false);
    expect(matchesFilter(parseRunFilter(""), run)).toBe(true);
  });

  it.each([
    ['metrics.accuracy > 0.9 or status = "failed"', /column 24: only `and`/],
    ["metrics.accuracy == 0.9", /column 18: unknown operator "=="/],
    ["metrics.accuracy ~ 0.9", /column 18: unexpected "~"/],
    ['metrics.accuracy > "high"', /metrics.accuracy is a number/],
    ["tags.trigger = drift", /expected a number or a "quoted string" after =, found "drift"/],
    ["status = 1", /status is text: quote the value/],
    ["accuracy > 0.9", /column 1: unknown field "accuracy"/],
    ["metrics. > 1", /metrics. needs a key/],
    ["metrics.accuracy >", /column 19: expected a number .* found the end/],
    ["metrics.accuracy > 0.9 and", /a comparison must follow `and`/],
    ['metrics.accuracy > 0.9 status = "x"', /expected `and` after a comparison, found "status"/],
    ['tags.x = "open', /unterminated string/],
    ["metrics.`open > 1", /unterminated `key`/],
    ["metrics.accuracy", /expected an operator/],
  ])("refuses %s with a clear error of kind invalid", (text, message) => {
    const err = parseError(text);
    expect(isSightlineError(err) && err.kind).toBe("invalid");
    expect(err.code).toBe("invalid_filter");
    expect(err.message).toMatch(message);
  });
});
