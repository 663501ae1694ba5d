import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import pLimit from "p-limit";

export interface Served {
  requestId: string;
  version: number;
  label: string;
  truth: string;
}

export interface TrafficStats {
  sent: number;
  failed: number;
  /** Non-2xx statuses and network errors, by kind. */
  failures: Record<string, number>;
  served: Served[];
}

export interface Image {
  label: string;
  bytes: Buffer;
}

type PredictBody = { request_id: string; model: { version: number }; predictions: { label: string }[] };

async function send(url: string, image: Image, stats: TrafficStats): Promise<void> {
  stats.sent++;
  try {
    const type = image.bytes[0] === 0xff && image.bytes[1] === 0xd8 ? "image/jpeg" : "image/png";
    const res = await fetch(`${url}/predict`, { method: "POST", headers: { "content-type": type }, body: image.bytes });
    if (!res.ok) {
      stats.failed++;
      stats.failures[`HTTP ${res.status}`] = (stats.failures[`HTTP ${res.status}`] ?? 0) + 1;
      await res.body?.cancel();
      return;
    }
    const body = (await res.json()) as PredictBody;
    stats.served.push({
      requestId: body.request_id,
      version: body.model.version,
      label: body.predictions[0]!.label,
      truth: image.label,
    });
  } catch (err) {
    stats.failed++;
    const kind = (err as Error).message;
    stats.failures[kind] = (stats.failures[kind] ?? 0) + 1;
  }
}

export const emptyStats = (): TrafficStats => ({ sent: 0, failed: 0, failures: {}, served: [] });

/** Sends every image once, `concurrency` at a time, as real clients would (one request per image). */
export async function sendAll(
  url: string,
  images: readonly Image[],
  stats: TrafficStats = emptyStats(),
  concurrency = 8,
): Promise<TrafficStats> {
  const limit = pLimit(concurrency);
  await Promise.all(images.map((image) => limit(() => send(url, image, stats))));
  return stats;
}

/** A steady trickle of requests (about `perSecond`), cycling through `images`, until stopped. */
export function steadyLoad(
  url: string,
  images: readonly Image[],
  perSecond: number,
  stats: TrafficStats = emptyStats(),
): { stats: TrafficStats; stop: () => Promise<void> } {
  let stopped = false;
  let i = 0;
  const loop = (async () => {
    while (!stopped) {
      const started = Date.now();
      await send(url, images[i++ % images.length]!, stats);
      await new Promise((r) => setTimeout(r, Math.max(0, 1000 / perSecond - (Date.now() - started))));
    }
  })();
  return {
    stats,
    stop: async () => {
      stopped = true;
      await loop;
    },
  };
}

export const accuracy = (served: readonly Served[]): number =>
  served.length === 0 ? 0 : served.filter((s) => s.label === s.truth).length / served.length;

/** The images of a split folder, classes interleaved (one of each in turn), as real traffic would mix them. */
export async function splitImages(dir: string, only?: (file: string) => boolean): Promise<Image[]> {
  const byClass: Image[][] = [];
  for (const label of (await readdir(dir)).sort()) {
    const files = (await readdir(join(dir, label))).sort().filter((f) => !only || only(f));
    byClass.push(await Promise.all(files.map(async (f) => ({ label, bytes: await readFile(join(dir, label, f)) }))));
  }
  const out: Image[] = [];
  for (let i = 0; out.length < byClass.reduce((n, c) => n + c.length, 0); i++)
    for (const c of byClass) if (c[i]) out.push(c[i]!);
  return out;
}
