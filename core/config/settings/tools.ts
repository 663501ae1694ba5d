import { z } from "zod";
import { defineEnv } from "../env.ts";

// The benchmarks' caches (bench/), so a rerun skips the demo's training and resnet18's export.
export const SIGHTLINE_BENCH_HOME = defineEnv({
  name: "SIGHTLINE_BENCH_HOME",
  schema: z.string(),
  defaultDoc: "`$TMPDIR/sightline-bench-serve-home`",
  doc: "the trained demo home the serving benches reuse",
  components: ["bench"],
});
export const SIGHTLINE_BENCH_CACHE = defineEnv({
  name: "SIGHTLINE_BENCH_CACHE",
  schema: z.string(),
  defaultDoc: "`$TMPDIR/sightline-bench-cache`",
  doc: "resnet18's ONNX export and JPEGs, kept between bench runs",
  components: ["bench"],
});

export const FMNIST_DIR = defineEnv({
  name: "FMNIST_DIR",
  schema: z.string(),
  default: "/usr/share/datasets/fashion-mnist",
  doc: "the full Fashion-MNIST IDX files the training and dataset benches read",
  components: ["bench"],
});

// CD's smoke test of a deployed endpoint (.github/scripts/smoke-test.ts).
export const SIGHTLINE_SMOKE_API_KEY = defineEnv({
  name: "SIGHTLINE_SMOKE_API_KEY",
  schema: z.string(),
  doc: "an API key the CD smoke test sends to `/predict` (production requires keys)",
  secret: true,
  components: ["ci"],
  emptyIsUnset: true,
});

// The end-to-end tests' screenshots of each console page (test/e2e/demo.test.ts), for a person to look at.
export const SIGHTLINE_SCREENSHOTS_DIR = defineEnv({
  name: "SIGHTLINE_SCREENSHOTS_DIR",
  schema: z.string(),
  doc: "where the demo's end-to-end test writes a full-page PNG of each console page (none when unset)",
  components: ["ci"],
  emptyIsUnset: true,
});

export const TOOL_SETTINGS = [
  SIGHTLINE_BENCH_HOME,
  SIGHTLINE_BENCH_CACHE,
  FMNIST_DIR,
  SIGHTLINE_SMOKE_API_KEY,
  SIGHTLINE_SCREENSHOTS_DIR,
] as const;
