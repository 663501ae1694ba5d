import type { DatabaseSync } from "node:sqlite";
import { createLogger, type Logger } from "../telemetry/logger.ts";
import { openSqlite } from "../util/sqlite.ts";
import { decodeEvent, InvalidEventError, peekEventIds, validEvent, type AnyCloudEvent } from "./envelope.ts";
import {
  backoffSeconds,
  DEFAULT_RETRY,
  type DeadLetter,
  type DeadLetterSelector,
  type ReplayReport,
  type StoredDeadLetter,
  type EventBus,
  type Handler,
  type SubscribeOptions,
  type Subscription,
} from "./event-bus.ts";
import type { EventType } from "./schemas.ts";
import { disableBusyWait, writeWhenFree } from "./sqlite-write.ts";

export interface LocalBusOptions {
  /** How often an idle consumer looks for work. */
  pollMs?: number;
  /**
   * How long a claimed delivery is hidden from other consumers before it is handed out again; renewed while the
   * handler runs, so this bounds how long a crashed consumer's deliveries wait, not how long a handler may take.
   */
  ackDeadlineSeconds?: number;
  /** Events every subscription has acknowledged are deleted once older than this (Pub/Sub keeps acked ones not at all). Default 7 days. */
  retentionHours?: number;
  /** How long a write waits (asynchronously) for another process's write lock before failing. Default 15 s. */
  lockTimeoutMs?: number;
  logger?: Logger;
}

type DeliveryRow = {
  seq: number;
  attempts: number;
  body: string;
  max_attempts: number;
  min_backoff: number;
  max_backoff: number;
};
type LetterRow = {
  dl_seq: number;
  subscription: string;
  reason: string;
  attempts: number;
  body: string;
  event_id: string | null;
  event_type: string | null;
  at: string;
};

const BATCH = 16;
/** Pruning runs at most this often per bus, from its consumer loops. */
const PRUNE_EVERY_MS = 60_000;
const PRUNE_BATCH = 1000;

/**
 * The embedded event bus: a queue in SQLite that several processes can publish to and consume from.
 * Publishing fans an event out to one delivery row per matching subscription; a consumer claims rows with a lease
 * (a crashed consumer's rows come back when the lease ends), deletes them when the handler succeeds, reschedules
 * them with exponential backoff when it throws, and moves them to the dead-letter table after the last attempt.
 * Writes never use SQLite's busy handler (it would block the event loop): they wait for the lock asynchronously.
 */
export class LocalBus implements EventBus {
  private readonly db: DatabaseSync;
  private readonly pollMs: number;
  private readonly ackDeadlineMs: number;
  private readonly log: Logger;
  private readonly loops = new Set<Loop>();
  private readonly retentionMs: number;
  private readonly lockTimeoutMs: number;
  private nextPruneAt = 0;

  constructor(path: string, options: LocalBusOptions = {}) {
    this.db = openSqlite(path);
    this.pollMs = options.pollMs ?? 50;
    this.ackDeadlineMs = (options.ackDeadlineSeconds ?? 60) * 1000;
    this.retentionMs = (options.retentionHours ?? 7 * 24) * 3_600_000;
    this.lockTimeoutMs = options.lockTimeoutMs ?? 15_000;
    this.log = options.logger ?? createLogger({ component: "local-bus" });
    this.db.exec(`
      CREATE TABLE IF NOT EXISTS bus_events (
        seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT, type TEXT NOT NULL, body TEXT NOT NULL, published_at TEXT NOT NULL);
      CREATE TABLE IF NOT EXISTS bus_subscriptions (
        name TEXT NOT NULL, type TEXT NOT NULL, max_attempts INTEGER NOT NULL, min_backoff REAL NOT NULL,
        max_backoff REAL NOT NULL, PRIMARY KEY (name, type)) WITHOUT ROWID;
      CREATE TABLE IF NOT EXISTS bus_deliveries (
        subscription TEXT NOT NULL, seq INTEGER NOT NULL REFERENCES bus_events (seq), attempts INTEGER NOT NULL DEFAULT 0,
        due_at INTEGER NOT NULL, lease_until INTEGER NOT NULL DEFAULT 0, last_error TEXT,
        PRIMARY KEY (subscription, seq)) WITHOUT ROWID;
      CREATE INDEX IF NOT EXISTS bus_deliveries_due ON bus_deliveries (subscription, due_at);
      CREATE INDEX IF NOT EXISTS bus_deliveries_seq ON bus_deliveries (seq);
      CREATE TABLE IF NOT EXISTS bus_dead_letters (
        dl_seq INTEGER PRIMARY KEY AUTOINCREMENT, subscription TEXT NOT NULL, reason TEXT NOT NULL,
        attempts INTEGER NOT NULL, body TEXT NOT NULL, event_id TEXT, event_type TEXT, at TEXT NOT NULL);
      CREATE TABLE IF NOT EXISTS bus_dead_letter_cursors (name TEXT PRIMARY KEY, last INTEGER NOT NULL) WITHOUT ROWID;`);
    // The schema is written once, at start (with the busy wait); from here on writes wait asynchronously.
    disableBusyWait(this.db);
  }

  async publish(event: AnyCloudEvent): Promise<void> {
    const valid = validEvent(event);
    await this.publishRaw(valid.type, JSON.stringify(valid), valid.id);
  }

  /** Puts a body on the queue of `type` unchecked; consumers validate it. Tests use it to play a foreign publisher. */
  async publishRaw(type: string, body: string, id?: string): Promise<void> {
    await this.write(`publishing ${type}`, () => {
      const { seq } = this.db
        .prepare("INSERT INTO bus_events (id, type, body, published_at) VALUES (?, ?, ?, ?) RETURNING seq")
        .get(id ?? null, type, body, new Date().toISOString()) as { seq: number };
      this.db
        .prepare(
          "INSERT INTO bus_deliveries (subscription, seq, due_at) SELECT name, ?, ? FROM bus_subscriptions WHERE type = ?",
        )
        .run(seq, Date.now(), type);
    });
  }

  async ensureSubscription(name: string, types: readonly EventType[], options: SubscribeOptions = {}): Promise<void> {
    const upsert = this.db.prepare(
      `INSERT INTO bus_subscriptions (name, type, max_attempts, min_backoff, max_backoff) VALUES (?, ?, ?, ?, ?)
       ON CONFLICT (name, type) DO UPDATE SET max_attempts = excluded.max_attempts,
         min_backoff = excluded.min_backoff, max_backoff = excluded.max_backoff`,
    );
    await this.write(`creating subscription ${name}`, () => {
      for (const type of types) {
        upsert.run(
          name,
          type,
          options.maxAttempts ?? DEFAULT_RETRY.maxAttempts,
          options.minBackoffSeconds ?? DEFAULT_RETRY.minBackoffSeconds,
          options.maxBackoffSeconds ?? DEFAULT_RETRY.maxBackoffSeconds,
        );
      }
    });
  }

  async subscribe(
    name: string,
    types: readonly EventType[],
    handler: Handler,
    options: SubscribeOptions = {},
  ): Promise<Subscription> {
    await this.ensureSubscription(name, types, options);
    return this.startLoop(name, () => this.consumeBatch(name, handler));
  }

  async subscribeDeadLetters(name: string, handler: (letter: DeadLetter) => Promise<void>): Promise<Subscription> {
    // Like a new Pub/Sub subscription, a new dead-letter reader sees letters written from now on.
    await this.write(`creating dead-letter reader ${name}`, () =>
      this.db
        .prepare(
          "INSERT OR IGNORE INTO bus_dead_letter_cursors (name, last) SELECT ?, COALESCE(MAX(dl_seq), 0) FROM bus_dead_letters",
        )
        .run(name),
    );
    return this.startLoop(`dead-letters:${name}`, () => this.consumeDeadLetters(name, handler));
  }

  async close(): Promise<void> {
    await Promise.all([...this.loops].map((l) => l.close()));
    if (this.db.isOpen) this.db.close();
  }

  private write<R>(what: string, fn: () => R): Promise<R> {
    return writeWhenFree(this.db, fn, this.lockTimeoutMs, what);
  }

  /**
   * Deletes events that no subscription still has to deliver, once older than the retention: without it the
   * table grows with every prediction batch ever published. Bounded per run; at most once a minute per bus.
   */
  async prune(now = Date.now()): Promise<number> {
    this.nextPruneAt = now + PRUNE_EVERY_MS;
    const before = new Date(now - this.retentionMs).toISOString();
    let total = 0;
    for (;;) {
      const { changes } = await this.write("pruning acknowledged events", () =>
        this.db
          .prepare(
            `DELETE FROM bus_events WHERE seq IN (
               SELECT e.seq FROM bus_events e WHERE e.published_at < ?
               AND NOT EXISTS (SELECT 1 FROM bus_deliveries d WHERE d.seq = e.seq) LIMIT ?)`,
          )
          .run(before, PRUNE_BATCH),
      );
      total += Number(changes);
      if (Number(changes) < PRUNE_BATCH) break;
    }
    if (total > 0) this.log.info("pruned acknowledged events", { deleted: total, publishedBefore: before });
    return total;
  }

  private startLoop(name: string, step: () => Promise<number>): Subscription {
    const loop = new Loop(name, step, this.pollMs, this.log);
    this.loops.add(loop);
    return {
      name,
      close: async () => {
        this.loops.delete(loop);
        await loop.close();
      },
    };
  }

  /** Claims due deliveries, runs the handler on each, and settles them. Returns how many it handled. */
  private async consumeBatch(name: string, handler: Handler): Promise<number> {
    const now = Date.now();
    if (now >= this.nextPruneAt) await this.prune(now);
    const claimed = await this.write(`claiming deliveries of ${name}`, () => {
      const rows = this.db
        .prepare(
          `SELECT d.seq, d.attempts + 1 AS attempts, e.body, s.max_attempts, s.min_backoff, s.max_backoff
           FROM bus_deliveries d JOIN bus_events e ON e.seq = d.seq
           JOIN bus_subscriptions s ON s.name = d.subscription AND s.type = e.type
           WHERE d.subscription = ? AND d.due_at <= ? AND d.lease_until <= ? ORDER BY d.seq LIMIT ?`,
        )
        .all(name, now, now, BATCH) as DeliveryRow[];
      const lease = this.db.prepare(
        "UPDATE bus_deliveries SET attempts = ?, lease_until = ? WHERE subscription = ? AND seq = ?",
      );
      for (const r of rows) lease.run(r.attempts, now + this.ackDeadlineMs, name, r.seq);
      return rows;
    });
    await Promise.all(claimed.map((row) => this.deliver(name, row, handler)));
    return claimed.length;
  }

  private async deliver(name: string, row: DeliveryRow, handler: Handler): Promise<void> {
    let event: AnyCloudEvent;
    try {
      event = decodeEvent(row.body);
    } catch (err) {
      await this.deadLetterRow(name, row, (err as Error).message);
      return;
    }
    const renewal = this.keepLeased(name, row);
    try {
      await handler(event);
      clearInterval(renewal);
      await this.write(`acknowledging on ${name}`, () =>
        this.db.prepare("DELETE FROM bus_deliveries WHERE subscription = ? AND seq = ?").run(name, row.seq),
      );
    } catch (err) {
      clearInterval(renewal);
      const reason = err instanceof Error ? err.message : String(err);
      if (row.attempts >= row.max_attempts) {
        await this.deadLetterRow(name, row, `handler failed ${row.attempts} times; last error: ${reason}`, event);
        return;
      }
      const delayMs =
        backoffSeconds(row.attempts, { minBackoffSeconds: row.min_backoff, maxBackoffSeconds: row.max_backoff }) * 1000;
      this.log.warn("handler failed; will retry", {
        subscription: name,
        eventId: event.id,
        attempt: row.attempts,
        delayMs,
        reason,
      });
      await this.write(`rescheduling on ${name}`, () =>
        this.db
          .prepare(
            "UPDATE bus_deliveries SET due_at = ?, lease_until = 0, last_error = ? WHERE subscription = ? AND seq = ?",
          )
          .run(Date.now() + delayMs, reason, name, row.seq),
      );
    }
  }

  /**
   * Renews the delivery's lease every third of the ack deadline while its handler runs, so a slow handler is not
   * handed to a second consumer meanwhile. Only this claim's lease (same attempt number) is renewed.
   */
  private keepLeased(name: string, row: DeliveryRow): NodeJS.Timeout {
    const timer = setInterval(
      () => {
        if (!this.db.isOpen) return;
        this.write(`renewing a lease on ${name}`, () =>
          this.db
            .prepare(
              "UPDATE bus_deliveries SET lease_until = ? WHERE subscription = ? AND seq = ? AND attempts = ? AND lease_until > 0",
            )
            .run(Date.now() + this.ackDeadlineMs, name, row.seq, row.attempts),
        ).catch((err: unknown) =>
          this.log.warn("could not renew a lease", {
            subscription: name,
            seq: row.seq,
            reason: err instanceof Error ? err.message : String(err),
          }),
        );
      },
      Math.max(10, this.ackDeadlineMs / 3),
    );
    timer.unref();
    return timer;
  }

  async deadLetter(subscription: string, body: string, reason: string, attempts = 1): Promise<void> {
    const { eventId, eventType } = peekEventIds(body);
    this.log.error("event dead-lettered", { subscription, eventId, eventType, attempts, reason });
    await this.write(`dead-lettering on ${subscription}`, () =>
      this.db
        .prepare(
          "INSERT INTO bus_dead_letters (subscription, reason, attempts, body, event_id, event_type, at) VALUES (?, ?, ?, ?, ?, ?, ?)",
        )
        .run(subscription, reason, attempts, body, eventId ?? null, eventType ?? null, new Date().toISOString()),
    );
  }

  private async deadLetterRow(name: string, row: DeliveryRow, reason: string, event?: AnyCloudEvent): Promise<void> {
    const { eventId: id, eventType: type } = event
      ? { eventId: event.id, eventType: event.type }
      : peekEventIds(row.body);
    this.log.error("event dead-lettered", {
      subscription: name,
      eventId: id,
      eventType: type,
      attempts: row.attempts,
      reason,
    });
    await this.write(`dead-lettering on ${name}`, () => {
      this.db
        .prepare(
          "INSERT INTO bus_dead_letters (subscription, reason, attempts, body, event_id, event_type, at) VALUES (?, ?, ?, ?, ?, ?, ?)",
        )
        .run(name, reason, row.attempts, row.body, id ?? null, type ?? null, new Date().toISOString());
      this.db.prepare("DELETE FROM bus_deliveries WHERE subscription = ? AND seq = ?").run(name, row.seq);
    });
  }

  async listDeadLetters(selector: DeadLetterSelector = {}): Promise<StoredDeadLetter[]> {
    return this.selectLetters(selector).map((r) => ({ id: String(r.dl_seq), ...toLetter(r) }));
  }

  /**
   * Puts each selected letter back on its subscription's queue (a new delivery of the same body, so the same
   * event id), or, when no such subscription of that type is known here (a letter written by a consumer outside
   * this bus), on every subscription of its type; then deletes the letter. One transaction: all or nothing.
   */
  async replayDeadLetters(selector: DeadLetterSelector = {}): Promise<ReplayReport> {
    const report: ReplayReport = { replayed: [], kept: [] };
    await this.write("replaying dead letters", () => {
      const insertEvent = this.db.prepare(
        "INSERT INTO bus_events (id, type, body, published_at) VALUES (?, ?, ?, ?) RETURNING seq",
      );
      const known = this.db.prepare("SELECT 1 AS one FROM bus_subscriptions WHERE name = ? AND type = ?");
      const toOne = this.db.prepare(
        "INSERT OR IGNORE INTO bus_deliveries (subscription, seq, due_at) VALUES (?, ?, ?)",
      );
      const toAll = this.db.prepare(
        "INSERT OR IGNORE INTO bus_deliveries (subscription, seq, due_at) SELECT name, ?, ? FROM bus_subscriptions WHERE type = ?",
      );
      const drop = this.db.prepare("DELETE FROM bus_dead_letters WHERE dl_seq = ?");
      for (const r of this.selectLetters(selector)) {
        let event: AnyCloudEvent;
        try {
          event = decodeEvent(r.body);
        } catch (err) {
          report.kept.push({ id: String(r.dl_seq), subscription: r.subscription, reason: (err as Error).message });
          continue;
        }
        const { seq } = insertEvent.get(event.id, event.type, r.body, new Date().toISOString()) as { seq: number };
        const now = Date.now();
        let to: string;
        if (known.get(r.subscription, event.type)) {
          toOne.run(r.subscription, seq, now);
          to = `subscription ${r.subscription}`;
        } else {
          toAll.run(seq, now, event.type);
          to = `every subscription of ${event.type}`;
        }
        drop.run(r.dl_seq);
        report.replayed.push({
          id: String(r.dl_seq),
          eventId: event.id,
          eventType: event.type,
          subscription: r.subscription,
          to,
        });
      }
    });
    for (const r of report.replayed) this.log.info("dead letter replayed", { ...r });
    return report;
  }

  private selectLetters(selector: DeadLetterSelector): LetterRow[] {
    const where: string[] = [];
    const params: (string | number)[] = [];
    if (selector.subscription !== undefined) {
      where.push("subscription = ?");
      params.push(selector.subscription);
    }
    if (selector.eventIds !== undefined) {
      where.push(`event_id IN (${selector.eventIds.map(() => "?").join(", ") || "NULL"})`);
      params.push(...selector.eventIds);
    }
    const sql = `SELECT * FROM bus_dead_letters ${where.length ? `WHERE ${where.join(" AND ")}` : ""} ORDER BY dl_seq LIMIT ?`;
    return this.db.prepare(sql).all(...params, selector.limit ?? -1) as LetterRow[];
  }

  private async consumeDeadLetters(name: string, handler: (letter: DeadLetter) => Promise<void>): Promise<number> {
    const rows = this.db
      .prepare(
        `SELECT l.* FROM bus_dead_letters l JOIN bus_dead_letter_cursors c ON c.name = ?
         WHERE l.dl_seq > c.last ORDER BY l.dl_seq LIMIT ?`,
      )
      .all(name, BATCH) as LetterRow[];
    for (const r of rows) {
      await handler(toLetter(r));
      await this.write(`advancing dead-letter reader ${name}`, () =>
        this.db.prepare("UPDATE bus_dead_letter_cursors SET last = ? WHERE name = ?").run(r.dl_seq, name),
      );
    }
    return rows.length;
  }
}

function toLetter(r: LetterRow): DeadLetter {
  return {
    subscription: r.subscription,
    reason: r.reason,
    attempts: r.attempts,
    body: r.body,
    ...(r.event_id === null ? {} : { eventId: r.event_id }),
    ...(r.event_type === null ? {} : { eventType: r.event_type }),
    time: r.at,
  };
}

/** Polls `step` until closed; never lets an error escape (a consumer must keep running). */
class Loop {
  private stopped = false;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private readonly name: string;
  private readonly step: () => Promise<number>;
  private readonly pollMs: number;
  private readonly log: Logger;

  constructor(name: string, step: () => Promise<number>, pollMs: number, log: Logger) {
    this.name = name;
    this.step = step;
    this.pollMs = pollMs;
    this.log = log;
    this.schedule(0);
  }

  private schedule(delay: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.running = this.tick();
    }, delay);
  }

  private async tick(): Promise<void> {
    let handled = 0;
    try {
      handled = await this.step();
    } catch (err) {
      this.log.error("consumer step failed", {
        subscription: this.name,
        err: err instanceof InvalidEventError ? err.message : err,
      });
    }
    // A full batch means there may be more waiting: go again at once.
    this.schedule(handled >= BATCH ? 0 : this.pollMs);
  }

  async close(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.running;
  }
}
