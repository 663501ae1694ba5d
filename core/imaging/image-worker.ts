// A child process of the image pool: runs sharp on batches of images.
import sharp from "sharp";
import workerpool from "workerpool";
import { allowImageFormats } from "./formats.ts";
import { prepareImage, preprocess, type PreparedImage, type PreprocessSpec } from "./preprocess.ts";
import { probeImage, type ImageShape } from "./probe.ts";

// One libvips thread per pipeline: the pool gets its parallelism from processes.
sharp.concurrency(1);
sharp.cache(false);
// At start, not at the first sniff: no loader outside SIGHTLINE_IMAGE_FORMATS is ever reachable in this process.
allowImageFormats();

const failure = (err: unknown): { error: string } => ({ error: (err as Error).message });

async function probeBatch(images: Uint8Array[]): Promise<(ImageShape | { error: string })[]> {
  return Promise.all(images.map((data) => probeImage(data).catch(failure)));
}

async function preprocessBatch(
  images: Uint8Array[],
  spec: PreprocessSpec,
): Promise<(Float32Array | { error: string })[]> {
  return Promise.all(images.map((data) => preprocess(data, spec).catch(failure)));
}

/** Model input and drift features from one decode of each image. */
async function prepareBatch(
  images: Uint8Array[],
  spec: PreprocessSpec,
): Promise<(PreparedImage | { error: string })[]> {
  return Promise.all(images.map((data) => prepareImage(data, spec, { features: true }).catch(failure)));
}

workerpool.worker({ probeBatch, preprocessBatch, prepareBatch });
