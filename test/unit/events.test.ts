import { describe, expect, it } from "vitest";
import {
  decodeEvent,
  InvalidEventError,
  makeEvent,
  parseEvent,
  topicFor,
  validEvent,
} from "../../core/events/envelope.ts";
import { EVENT_TYPES } from "../../core/events/schemas.ts";

const completed = {
  requestId: "req-1",
  runId: "run-1",
  model: "fmnist",
  version: 3,
  datasetId: "d".repeat(64),
  modelDigest: `sha256:${"1".repeat(64)}`,
  cardDigest: `sha256:${"2".repeat(64)}`,
  configHash: "abc",
  metrics: { accuracy: 0.91 },
};

describe("CloudEvents envelope and event schemas", () => {
  it("covers every event type in ARCHITECTURE.md, each with a topic name", () => {
    expect(EVENT_TYPES.map(topicFor).sort()).toEqual([
      "sightline-dataset-versioned",
      "sightline-drift-reported",
      "sightline-model-promoted",
      "sightline-model-rolled_back",
      "sightline-predictions-logged",
      "sightline-training-completed",
      "sightline-training-failed",
      "sightline-training-requested",
    ]);
  });

  it("builds a CloudEvents 1.0 envelope that survives a JSON round trip", () => {
    const e = makeEvent("sightline.training.completed", completed, { id: "fixed", subject: "fmnist:3" });
    expect(e).toMatchObject({
      specversion: "1.0",
      id: "fixed",
      type: "sightline.training.completed",
      source: "sightline",
      datacontenttype: "application/json",
    });
    expect(decodeEvent(Buffer.from(JSON.stringify(e)))).toEqual(e);
  });

  it("names what is wrong with invalid data", () => {
    expect(() => makeEvent("sightline.training.completed", { ...completed, version: 0 })).toThrow(/version/);
    expect(() =>
      parseEvent({ specversion: "0.3", id: "x", source: "s", type: "t", time: new Date().toISOString() }),
    ).toThrow(/invalid CloudEvents envelope/);
    expect(() =>
      parseEvent({
        specversion: "1.0",
        id: "x",
        source: "s",
        type: "sightline.nope",
        time: new Date().toISOString(),
        data: {},
      }),
    ).toThrow(/unknown event type "sightline.nope"/);
    expect(() => decodeEvent("{oops")).toThrow(InvalidEventError);
    expect(() => decodeEvent("{oops")).toThrow(/not JSON/);
  });

  it("validates an event once: a bus takes makeEvent's own event as it is, and checks anything else", () => {
    const e = makeEvent("sightline.training.completed", completed);
    // The same object back, not a parsed copy: nothing was walked again.
    expect(validEvent(e)).toBe(e);
    const copy = { ...e };
    expect(validEvent(copy)).not.toBe(copy);
    expect(validEvent(copy)).toEqual(e);
    expect(() => validEvent({ ...e, data: { ...completed, version: 0 } })).toThrow(InvalidEventError);
    expect(() => validEvent(null)).toThrow(InvalidEventError);
  });
});
