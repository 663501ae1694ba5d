// A child process of the probe pool: probes batches of images with sharp.
import sharp from "sharp";
import workerpool from "workerpool";
import { probeImage, type ImageShape } from "./probe.ts";

// One libvips thread per pipeline: the pool gets its parallelism from processes.
sharp.concurrency(1);
sharp.cache(false);

async function probeBatch(images: Uint8Array[]): Promise<(ImageShape | { error: string })[]> {
  return Promise.all(images.map((data) => probeImage(data).catch((err: unknown) => ({ error: (err as Error).message }))));
}

workerpool.worker({ probeBatch });
