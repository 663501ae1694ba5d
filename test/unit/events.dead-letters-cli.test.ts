import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makeEvent, type AnyCloudEvent } from "../../core/events/envelope.ts";
import type { StoredDeadLetter } from "../../core/events/event-bus.ts";
import { LocalBus } from "../../core/events/local-bus.ts";
import { createLogger } from "../../core/telemetry/logger.ts";
import { runCli } from "../support/cli.ts";
import { waitFor } from "../support/wait.ts";

const failed = (tag: string): AnyCloudEvent =>
  makeEvent("sightline.training.failed", {
    requestId: tag,
    runId: `run-${tag}`,
    model: "fmnist",
    datasetId: "c".repeat(64),
    reason: "test",
  });

describe("sightline events dead-letters list|replay (the real command, local bus)", () => {
  const cwd = mkdtempSync(join(tmpdir(), "sightline-cli-dead-letters-"));
  const env = { SIGHTLINE_HOME: join(cwd, "home") };
  const cli = (...args: string[]) => runCli(args, { cwd, env });
  let bus: LocalBus;
  let broken = true;
  const handled: string[] = [];
  const lost = failed("lost");
  const other = failed("other");

  beforeAll(async () => {
    bus = new LocalBus(join(cwd, "home", "meta.db"), { pollMs: 10, logger: createLogger({}, { level: "CRITICAL" }) });
    await bus.subscribe(
      "retrain",
      ["sightline.training.failed"],
      async (e) => {
        if (broken) throw new Error("Firestore is down");
        handled.push(e.id);
      },
      { maxAttempts: 2, minBackoffSeconds: 0.01, maxBackoffSeconds: 0.02 },
    );
    await bus.publish(lost);
    await bus.publish(other);
    await waitFor(async () => (await bus.listDeadLetters()).length === 2, "two dead letters");
    // A consumer outside the bus (a Cloud Function) dead-letters what it cannot parse.
    await bus.deadLetter("gate", "not an event", "not JSON");
  });
  afterAll(() => bus.close());

  it("lists what is kept, replays the chosen ones with their event id, and says what it did", async () => {
    const listed = await cli("events", "dead-letters", "list", "--json");
    expect(listed.code).toBe(0);
    const letters = JSON.parse(listed.stdout) as StoredDeadLetter[];
    expect(letters.map((l) => [l.subscription, l.eventId ?? null])).toEqual([
      ["retrain", lost.id],
      ["retrain", other.id],
      ["gate", null],
    ]);
    expect(letters[0]!.reason).toContain("Firestore is down");
    const text = await cli("events", "dead-letters", "list", "--subscription", "retrain");
    expect(text.stdout).toContain(lost.id);
    expect(text.stdout).toContain("2 dead letter(s)");

    const unsaid = await cli("events", "dead-letters", "replay");
    expect(unsaid.code).toBe(64);
    expect(unsaid.stderr).toMatch(/--event ID, --subscription NAME or --all/);

    broken = false;
    const replay = await cli("events", "dead-letters", "replay", "--event", lost.id);
    expect(replay.code).toBe(0);
    expect(replay.stdout).toContain(
      `replayed sightline.training.failed ${lost.id} (dead-lettered by retrain) to subscription retrain`,
    );
    expect(replay.stdout).toContain("1 replayed, 0 kept");
    await waitFor(() => handled.includes(lost.id), "the replayed event, with its id");
    expect(handled).toEqual([lost.id]);

    const all = await cli("events", "dead-letters", "replay", "--all", "--json");
    expect(JSON.parse(all.stdout)).toMatchObject({
      replayed: [{ eventId: other.id }],
      kept: [{ subscription: "gate", reason: expect.stringMatching(/JSON/) }],
    });
    await waitFor(() => handled.includes(other.id), "the second replayed event");
    expect((await cli("events", "dead-letters", "list", "--json")).stdout).toContain('"subscription": "gate"');
  });
});
