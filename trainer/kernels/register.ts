/**
 * Fast training kernels for TensorFlow.js's wasm backend, and the backend's set-up in Node.
 *
 *   await useWasmBackend();      // wasm backend from the installed package (no downloads), fast kernels registered
 *   registerFastKernels();       // idempotent; also usable on its own
 */
import * as tf from "@tensorflow/tfjs-core";
// Training needs the ops' gradient functions. tfjs-core's Node bundle does not register them (its ESM
// register_all_gradients is not loadable by Node); tfjs-layers' Node bundle does, on import.
import "@tensorflow/tfjs-layers";
import { BackendWasm, getThreadsCount, setThreadsCount, setWasmPaths } from "@tensorflow/tfjs-backend-wasm";
import type { KernelConfig } from "@tensorflow/tfjs-core";
import { createRequire } from "node:module";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fusedAdamConfig } from "./adam.ts";
import { reluGradConfig, reluGradMaskConfig } from "./relu-grad.ts";
import { batchMatMulConfig } from "./batch-mat-mul.ts";
import { conv2DBackpropFilterConfig, conv2DBackpropFilterNaiveConfig } from "./conv2d-backprop-filter.ts";
import { conv2DBackpropInputConfig } from "./conv2d-backprop-input.ts";
import { castConfig, identityConfig } from "./identity.ts";
import { maxPoolGradConfig } from "./max-pool-grad.ts";
import { meanConfig, sumConfig } from "./sum.ts";
import { tileConfig } from "./tile.ts";
import { rememberOriginal, WASM } from "./wasm-internals.ts";

/** The kernels registered by `registerFastKernels`, by name. */
export const FAST_KERNELS: readonly KernelConfig[] = [
  conv2DBackpropFilterConfig,
  conv2DBackpropInputConfig,
  maxPoolGradConfig,
  batchMatMulConfig,
  sumConfig,
  meanConfig,
  tileConfig,
  identityConfig,
  castConfig,
  fusedAdamConfig,
  reluGradMaskConfig,
];

/** Kernels the fast ones call into; captured before any override so an override never calls itself. */
const BUILDING_BLOCKS = [
  "Conv2D",
  "Transpose",
  "BatchMatMul",
  "Conv2DBackpropInput",
  "MaxPoolGrad",
  "Sum",
  "Identity",
  "Cast",
  "Mean",
  "Tile",
];

function install(config: KernelConfig): void {
  const previous = tf.getKernel(config.kernelName, WASM);
  if (previous?.kernelFunc === config.kernelFunc) return;
  const original = rememberOriginal(config.kernelName);
  if (previous !== undefined) tf.unregisterKernel(config.kernelName, WASM);
  // If the backend initialises after this, the backend's own set-up for the kernel we replace still has to run
  // (it binds the C function our override may delegate to).
  const setupFunc = original?.setupFunc;
  const disposeFunc = original?.disposeFunc;
  tf.registerKernel({
    ...config,
    ...(setupFunc !== undefined ? { setupFunc } : {}),
    ...(disposeFunc !== undefined ? { disposeFunc } : {}),
  });
}

/** Registers the fast kernels for the "wasm" backend. Idempotent; safe before or after the backend initialises. */
export function registerFastKernels(): void {
  for (const name of BUILDING_BLOCKS) rememberOriginal(name);
  for (const config of FAST_KERNELS) install(config);
  // The Relu gradient in one kernel on wasm (the stock ops elsewhere, and once the kernel is unregistered).
  tf.registerGradient(reluGradConfig);
}

/** Registers only the direct-loop Conv2DBackpropFilter the backend lacks (the benchmark's baseline). */
export function registerBaselineKernels(): void {
  for (const name of BUILDING_BLOCKS) rememberOriginal(name);
  install(conv2DBackpropFilterNaiveConfig);
}

/** Puts back the backend's own kernels (and removes the added Conv2DBackpropFilter). For benchmarks and tests. */
export function unregisterFastKernels(): void {
  for (const config of [...FAST_KERNELS, conv2DBackpropFilterNaiveConfig]) {
    const current = tf.getKernel(config.kernelName, WASM);
    if (current === undefined) continue;
    tf.unregisterKernel(config.kernelName, WASM);
    const original = rememberOriginal(config.kernelName);
    if (original !== undefined && original !== current) tf.registerKernel(original);
  }
}

const require = createRequire(import.meta.url);
const wasmPackageDir = dirname(require.resolve("@tensorflow/tfjs-backend-wasm/package.json"));

/** Minimal shape of the Emscripten module object the backend wraps (only what is touched here). */
interface EmscriptenModule {
  cwrap(name: string, returnType: string | null, argTypes: string[]): (...args: number[]) => number;
  tfjs?: Record<string, (...args: number[]) => number>;
  PThread?: { unusedWorkers: { ref: () => void }[] };
}
type ThreadedFactory = (config: Record<string, unknown>) => Promise<EmscriptenModule>;

/**
 * The package disables threads under Node (tfjs issue #3830: its worker script is handed over as a Blob URL) and
 * caps XNNPACK's pool at navigator.hardwareConcurrency / 2. This loads the package's threaded-SIMD build with its
 * worker script written to a temp file (the script already supports Node's worker_threads) and reports twice the
 * requested thread count as "logical cores" during initialisation so the cap lets `threads` through.
 */
async function createThreadedBackend(threads: number): Promise<BackendWasm> {
  const factoryPath = join(wasmPackageDir, "wasm-out/tfjs-backend-wasm-threaded-simd.js");
  const factory = require(factoryPath) as ThreadedFactory;
  const { wasmWorkerContents } = require(
    join(wasmPackageDir, "wasm-out/tfjs-backend-wasm-threaded-simd.worker.js"),
  ) as {
    wasmWorkerContents: string;
  };
  const workerPath = join(mkdtempSync(join(tmpdir(), "sightline-tfwasm-")), "worker.cjs");
  // Same escaping the package applies before making its Blob: the template literal turned "\n" into newlines.
  writeFileSync(workerPath, wasmWorkerContents.replace(/\n/g, "\\n"));
  const os = require("node:os") as { cpus: () => unknown[] };
  const realCpus = os.cpus;
  os.cpus = () => Array.from({ length: 2 * threads }, () => realCpus()[0]);
  let mod: EmscriptenModule;
  try {
    mod = await factory({
      locateFile: (path: string) => (path.endsWith(".worker.js") ? workerPath : join(wasmPackageDir, "dist", path)),
      mainScriptUrlOrBlob: factoryPath,
    });
  } finally {
    os.cpus = realCpus;
  }
  mod.tfjs = {
    init: mod.cwrap("init", null, []),
    initWithThreadsCount: mod.cwrap("init_with_threads_count", null, ["number"]),
    getThreadsCount: mod.cwrap("get_threads_count", "number", []),
    registerTensor: mod.cwrap("register_tensor", null, ["number", "number", "number"]),
    disposeData: mod.cwrap("dispose_data", null, ["number"]),
    dispose: mod.cwrap("dispose", null, []),
  };
  // Emscripten refs a worker while a pthread runs on it, and XNNPACK's pool threads never end, so a process that
  // trained with threads > 1 would never exit on its own. The pool's workers are loaded (and unref'd) by now; keep
  // them that way, so the threads stop with the process. Synchronous waits on them are unaffected.
  for (const worker of mod.PThread?.unusedWorkers ?? []) worker.ref = () => {};
  setThreadsCount(threads);
  // BackendWasm's constructor is typed for the package's own module type; ours carries the same members.
  return new BackendWasm(mod as unknown as ConstructorParameters<typeof BackendWasm>[0]);
}

export interface WasmBackendInfo {
  backend: string;
  threads: number;
}

/**
 * Makes the wasm backend current, loading its binaries from the installed package, and registers the fast kernels
 * (pass `fastKernels: false` for the stock backend). `threads` > 1 uses the threaded-SIMD build through Node's
 * worker_threads (they do not keep the process alive; `releaseWasmBackend()` ends them earlier).
 */
export async function useWasmBackend(threads = 1, options: { fastKernels?: boolean } = {}): Promise<WasmBackendInfo> {
  if (!Number.isInteger(threads) || threads < 1) throw new Error(`threads must be a positive integer, got ${threads}`);
  if (options.fastKernels !== false) registerFastKernels();
  if (tf.getBackend() === WASM && tf.findBackend(WASM) !== null) {
    return { backend: WASM, threads: getThreadsCount() };
  }
  if (threads > 1) {
    if (tf.findBackendFactory(WASM) !== null) tf.removeBackend(WASM);
    tf.registerBackend(WASM, () => createThreadedBackend(threads), 2);
  } else {
    setWasmPaths(join(wasmPackageDir, "dist") + "/");
    setThreadsCount(1);
  }
  if (!(await tf.setBackend(WASM))) throw new Error("the wasm backend failed to initialise");
  await tf.ready();
  return { backend: WASM, threads: getThreadsCount() };
}

/** Disposes the wasm backend (terminating its worker threads, if any). */
export function releaseWasmBackend(): void {
  if (tf.findBackend(WASM) !== null) tf.removeBackend(WASM);
}
