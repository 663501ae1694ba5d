import { describe, expect, it } from "vitest";
import { AbandonedError, MicroBatcher, QueueFullError } from "../../serving/batcher.ts";

const tick = () => new Promise((r) => setImmediate(r));

describe("micro-batcher", () => {
  it("runs a lone item at once, alone, whatever the delay allowed", async () => {
    const batches: number[][] = [];
    // A delay longer than the test's timeout: the item must not wait for it.
    const b = new MicroBatcher<number, number>(async (xs) => (batches.push(xs), xs.map((x) => x * 2)), {
      maxSize: 8,
      maxDelayMs: 600_000,
    });
    expect(await b.submit(3)).toBe(6);
    expect(batches).toEqual([[3]]);
  });

  it("puts what arrives during a run into the next run, in order, up to maxSize", async () => {
    const batches: number[][] = [];
    let release: () => void = () => undefined;
    const gate = new Promise<void>((r) => (release = r));
    const b = new MicroBatcher<number, number>(
      async (xs) => {
        batches.push(xs);
        if (batches.length === 1) await gate;
        return xs.map((x) => x + 100);
      },
      { maxSize: 3, maxDelayMs: 0 },
    );
    const first = b.submit(0);
    await tick();
    const rest = [1, 2, 3, 4, 5].map((x) => b.submit(x));
    release();
    expect(await Promise.all([first, ...rest])).toEqual([100, 101, 102, 103, 104, 105]);
    expect(batches).toEqual([[0], [1, 2, 3], [4, 5]]);
  });

  it("fails every item of a failed run, and keeps working afterwards", async () => {
    let fail = true;
    const b = new MicroBatcher<number, number>(
      async (xs) => {
        if (fail) throw new Error("session broke");
        return xs;
      },
      { maxSize: 4, maxDelayMs: 0 },
    );
    const results = await Promise.allSettled([b.submit(1), b.submit(2)]);
    expect(results.map((r) => r.status)).toEqual(["rejected", "rejected"]);
    fail = false;
    expect(await b.submit(7)).toBe(7);
  });

  it("rejects when the runner returns the wrong number of results", async () => {
    const b = new MicroBatcher<number, number>(async () => [1, 2, 3], { maxSize: 4, maxDelayMs: 0 });
    await expect(b.submit(1)).rejects.toThrow(/3 results for 1 items/);
  });

  it("waits up to maxDelayMs for company only after a multi-item batch", async () => {
    const batches: number[][] = [];
    const b = new MicroBatcher<number, number>(async (xs) => (batches.push(xs), xs), { maxSize: 8, maxDelayMs: 30 });
    await Promise.all([b.submit(1), b.submit(2)]);
    await tick();
    const a = b.submit(3);
    setTimeout(() => void b.submit(4), 5);
    await a;
    expect(batches).toEqual([
      [1, 2],
      [3, 4],
    ]);
  });

  it("reports idle only when nothing is queued or running", async () => {
    let release: () => void = () => undefined;
    const gate = new Promise<void>((r) => (release = r));
    const b = new MicroBatcher<number, number>(async (xs) => (await gate, xs), { maxSize: 4, maxDelayMs: 0 });
    const item = b.submit(1);
    let idle = false;
    const waiting = b.idle().then(() => (idle = true));
    await tick();
    expect(idle).toBe(false);
    release();
    await item;
    await waiting;
    expect(idle).toBe(true);
  });

  it("refuses an item beyond maxQueue waiting items, and takes items again once the queue drains", async () => {
    let release: () => void = () => undefined;
    const gate = new Promise<void>((r) => (release = r));
    const drops: string[] = [];
    const depth: number[] = [];
    let queued = 0;
    const b = new MicroBatcher<number, number>(async (xs) => (await gate, xs), {
      maxSize: 1,
      maxDelayMs: 0,
      maxQueue: 2,
      onDrop: (reason, n) => drops.push(`${reason}:${n}`),
      onQueueChange: (d) => depth.push((queued += d)),
    });
    const running = b.submit(0);
    await tick();
    const waiting = [b.submit(1), b.submit(2)];
    const refused = b.submit(3);
    await expect(refused).rejects.toBeInstanceOf(QueueFullError);
    await expect(refused).rejects.toThrow(/queue is full \(2 images waiting\)/);
    expect(drops).toEqual(["full:1"]);
    release();
    expect(await Promise.all([running, ...waiting])).toEqual([0, 1, 2]);
    expect(await b.submit(4)).toBe(4);
    expect(queued).toBe(0);
    expect(Math.max(...depth)).toBe(2);
  });

  it("drops a waiting item whose work is abandoned before it runs, and refuses one already abandoned", async () => {
    let release: () => void = () => undefined;
    const gate = new Promise<void>((r) => (release = r));
    const ran: number[][] = [];
    let current: AbortSignal | undefined;
    const drops: string[] = [];
    const b = new MicroBatcher<number, number>(async (xs) => (ran.push(xs), await gate, xs), {
      maxSize: 8,
      maxDelayMs: 0,
      signal: () => current,
      onDrop: (reason, n) => drops.push(`${reason}:${n}`),
    });
    const first = b.submit(1);
    await tick();
    const timedOut = new AbortController();
    current = timedOut.signal;
    const doomed = [b.submit(2), b.submit(3)];
    current = undefined;
    const kept = b.submit(4);
    // The request behind items 2 and 3 times out while they wait: they free their places at once.
    timedOut.abort();
    for (const d of doomed) await expect(d).rejects.toBeInstanceOf(AbandonedError);
    expect(b.queued).toBe(1);
    release();
    expect(await Promise.all([first, kept])).toEqual([1, 4]);
    expect(ran).toEqual([[1], [4]]);
    current = timedOut.signal;
    await expect(b.submit(5)).rejects.toBeInstanceOf(AbandonedError);
    expect(ran).toEqual([[1], [4]]);
    expect(drops).toEqual(["abandoned:1", "abandoned:1", "abandoned:1"]);
  });
});
