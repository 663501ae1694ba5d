// How long a publish on the embedded bus stalls the publishing process's event loop (the serving process publishes
// its prediction batches this way) while another process holds SQLite's write lock: the bus as it is (the lock is
// waited for asynchronously) against a baseline that waits in SQLite's busy handler (busy_timeout), as a plain
// connection does. Prints the worst event-loop stall of each and their ratio, measured in the same run.
//   node bench/bus-lock.ts [--rounds 8] [--hold-ms 300]
import { fork } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { monitorEventLoopDelay } from "node:perf_hooks";
import { DatabaseSync } from "node:sqlite";
import { parseArgs } from "node:util";
import { makeEvent } from "../core/events/envelope.ts";
import { LocalBus } from "../core/events/local-bus.ts";
import { createLogger } from "../core/telemetry/logger.ts";
import { immediate, openSqlite } from "../core/util/sqlite.ts";

type Hold = { path: string; holdMs: number };

if (process.argv[2] === "--holder") {
  // Child: takes the write lock when asked, keeps it holdMs, says when it has it.
  process.on("message", (msg: Hold | "exit") => {
    if (msg === "exit") process.exit(0);
    const db = new DatabaseSync(msg.path);
    db.exec("BEGIN IMMEDIATE");
    process.send?.("locked");
    setTimeout(() => {
      db.exec("COMMIT");
      db.close();
    }, msg.holdMs);
  });
} else {
  const { values } = parseArgs({
    options: { rounds: { type: "string", default: "8" }, "hold-ms": { type: "string", default: "300" } },
  });
  const rounds = Number(values.rounds);
  const holdMs = Number(values["hold-ms"]);
  const path = join(mkdtempSync(join(tmpdir(), "sightline-bench-bus-lock-")), "meta.db");
  const bus = new LocalBus(path, { logger: createLogger({}, { level: "CRITICAL" }) });
  await bus.ensureSubscription("bench", ["sightline.training.failed"]);
  const holder = fork(new URL(import.meta.url).pathname, ["--holder"], { stdio: "inherit" });
  const locked = (): Promise<void> => new Promise((resolve) => holder.once("message", () => resolve()));
  const event = (i: number) =>
    makeEvent("sightline.training.failed", {
      requestId: `r${i}`,
      runId: `run-${i}`,
      model: "bench",
      datasetId: "c".repeat(64),
      reason: "bench",
    });

  // Baseline: the same insert through a connection that waits in SQLite's busy handler.
  const baselineDb = openSqlite(path);
  const baselinePublish = async (i: number): Promise<void> => {
    const e = event(i);
    immediate(baselineDb, () =>
      baselineDb
        .prepare("INSERT INTO bus_events (id, type, body, published_at) VALUES (?, ?, ?, ?)")
        .run(e.id, e.type, JSON.stringify(e), e.time),
    );
  };

  async function measure(publish: (i: number) => Promise<void>): Promise<{ stallMs: number; publishMs: number }> {
    let worstStall = 0;
    let worstPublish = 0;
    for (let i = 0; i < rounds; i++) {
      const got = locked();
      holder.send({ path, holdMs } satisfies Hold);
      await got;
      const h = monitorEventLoopDelay({ resolution: 1 });
      h.enable();
      // A timer that should fire every ms: its worst lateness is the loop's stall.
      let last = performance.now();
      let stall = 0;
      const tick = setInterval(() => {
        const now = performance.now();
        stall = Math.max(stall, now - last);
        last = now;
      }, 1);
      const t0 = performance.now();
      await publish(i);
      const took = performance.now() - t0;
      await new Promise((r) => setTimeout(r, 5));
      clearInterval(tick);
      h.disable();
      worstStall = Math.max(worstStall, stall, h.max / 1e6);
      worstPublish = Math.max(worstPublish, took);
      await new Promise((r) => setTimeout(r, holdMs));
    }
    return { stallMs: worstStall, publishMs: worstPublish };
  }

  const base = await measure(baselinePublish);
  const ours = await measure((i) => bus.publish(event(rounds + i)));
  holder.send("exit");
  baselineDb.close();
  await bus.close();
  const f = (n: number): string => n.toFixed(1);
  console.log(`lock held ${holdMs} ms by another process, ${rounds} rounds`);
  console.log(
    `baseline (busy_timeout): worst event-loop stall ${f(base.stallMs)} ms, worst publish ${f(base.publishMs)} ms`,
  );
  console.log(
    `local bus (async wait):  worst event-loop stall ${f(ours.stallMs)} ms, worst publish ${f(ours.publishMs)} ms`,
  );
  console.log(`stall ratio baseline/bus: ${f(base.stallMs / Math.max(ours.stallMs, 0.001))}x`);
}
