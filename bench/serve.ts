// Benchmark: the inference API under load (issues #4 and #19). One entry point, two models:
//   fmnist    the demo's 28×28 Fashion-MNIST CNN with PNG requests, where HTTP and preprocessing dominate
//             (bench/serve-fmnist.ts: raw pipeline, HTTP floor, peak, paced tail, control, FastAPI peer);
//   resnet18  torchvision's ResNet-18 at 224×224 RGB with JPEG requests, where inference dominates
//             (bench/serve-resnet18.ts: raw pipeline, Sightline, FastAPI + PyTorch peer on the same weights).
//
//   node bench/serve.ts [--model fmnist|resnet18|both] [--seconds 10] [--warmup 2] [--connections 8]
//        [--images 60] [--no-peer]
// Caches: SIGHTLINE_BENCH_HOME (fmnist's trained demo home), SIGHTLINE_BENCH_CACHE (resnet18's export and JPEGs);
// both default under the system's temporary directory.
import { availableParallelism } from "node:os";
import { parseArgs } from "node:util";
import { z } from "zod";
import { createLogger } from "../core/telemetry/logger.ts";
import { benchFmnist } from "./serve-fmnist.ts";
import { benchResnet18 } from "./serve-resnet18.ts";
import { installChildCleanup } from "./serve-kit.ts";
import { SIGHTLINE_LOG_LEVEL } from "../core/config/settings/platform.ts";

const positive = (name: string) =>
  z.coerce.number({ error: `--${name} must be a number` }).positive(`--${name} must be positive`);
const OptionsSchema = z.object({
  model: z.enum(["fmnist", "resnet18", "both"], { error: "--model must be fmnist, resnet18 or both" }),
  seconds: positive("seconds"),
  warmup: z.coerce.number().min(0, "--warmup must be 0 or more"),
  connections: positive("connections").int("--connections must be a whole number"),
  images: positive("images").int("--images must be a whole number"),
  "no-peer": z.boolean(),
});

const { values } = parseArgs({
  options: {
    model: { type: "string", default: "both" },
    seconds: { type: "string", default: "10" },
    warmup: { type: "string", default: "2" },
    connections: { type: "string", default: "8" },
    images: { type: "string", default: "60" },
    "no-peer": { type: "boolean", default: false },
  },
});
const parsed = OptionsSchema.safeParse(values);
if (!parsed.success) {
  console.error(`bench:serve: ${parsed.error.issues.map((i) => i.message).join("; ")}`);
  process.exit(2);
}
const options = parsed.data;
const common = {
  seconds: options.seconds,
  warmup: options.warmup,
  connections: options.connections,
  cores: availableParallelism(),
  images: options.images,
  noPeer: options["no-peer"],
};

installChildCleanup();
// Serving workers inherit the environment: keep their INFO lines (startup, model loads) off the results.
process.env[SIGHTLINE_LOG_LEVEL.name] ??= "WARNING";
const log = createLogger({ component: "bench" }, { level: "WARNING" });

const both = options.model === "both";
/** Runs one model's bench; a failure (a missing Python package, a server that would not start) fails the run but not the other model's bench. */
async function run(name: string, title: string, bench: () => Promise<void>): Promise<void> {
  if (both) console.log(`${name === "fmnist" ? "" : "\n"}==== ${name}: ${title} ====`);
  try {
    await bench();
  } catch (err) {
    console.error(`${name.padEnd(12)} FAILED: ${(err as Error).message}`);
    process.exitCode = 1;
  }
}
if (options.model === "fmnist" || both)
  await run("fmnist", "28×28 grayscale CNN, PNG requests", () => benchFmnist(common, log));
if (options.model === "resnet18" || both)
  await run("resnet18", "224×224 RGB ResNet-18, JPEG requests", () => benchResnet18(common, log));
