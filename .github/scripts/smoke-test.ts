// The CD workflow's smoke test through the LoadBalancer: GET /health, then POST /predict with a PNG generated here
// (28×28 grey, the Fashion-MNIST shape), expecting a well-formed answer from the expected model.
//   node .github/scripts/smoke-test.ts http://IP [--model fmnist] [--attempts 20]
// With SIGHTLINE_SMOKE_API_KEY set (production requires API keys), /predict is called with it as a bearer token.
// Exit 0 when both pass, 1 otherwise (the workflow then rolls back).
import { parseArgs } from "node:util";
import sharp from "sharp";
import { SIGHTLINE_SMOKE_API_KEY } from "../../core/config/settings/tools.ts";

/** A deterministic 28×28 8-bit grey PNG: a bright square on a dark background. */
export async function smokeImage(): Promise<Uint8Array> {
  const size = 28;
  const data = new Uint8Array(size * size);
  for (let y = 0; y < size; y++)
    for (let x = 0; x < size; x++) data[y * size + x] = x > 6 && x < 21 && y > 4 && y < 24 ? 200 : 10;
  return sharp(data, { raw: { width: size, height: size, channels: 1 } })
    .toColourspace("b-w")
    .png()
    .toBuffer();
}

interface Prediction {
  label: string;
  index: number;
  confidence: number;
}

/** Checks a /predict answer against the serving contract (ARCHITECTURE.md); returns what is wrong, if anything. */
export function checkPrediction(body: unknown, model: string | undefined): string | undefined {
  const b = body as { request_id?: unknown; model?: { name?: unknown; version?: unknown }; predictions?: Prediction[] };
  if (typeof b?.request_id !== "string") return "no request_id";
  if (typeof b.model?.name !== "string" || typeof b.model.version !== "number") return "no model name and version";
  if (model !== undefined && b.model.name !== model) return `served model ${b.model.name}, expected ${model}`;
  if (!Array.isArray(b.predictions) || b.predictions.length !== 1) return "expected exactly one prediction";
  const p = b.predictions[0];
  if (typeof p?.label !== "string" || !(p.confidence >= 0 && p.confidence <= 1)) return "malformed prediction";
  return undefined;
}

async function attempt(
  base: string,
  model: string | undefined,
  apiKey: string | undefined,
): Promise<string | undefined> {
  const health = await fetch(new URL("/health", base), { signal: AbortSignal.timeout(5000) });
  if (!health.ok) return `/health answered ${health.status}`;
  const res = await fetch(new URL("/predict", base), {
    method: "POST",
    headers: { "content-type": "image/png", ...(apiKey ? { authorization: `Bearer ${apiKey}` } : {}) },
    body: await smokeImage(),
    signal: AbortSignal.timeout(10_000),
  });
  if (res.status !== 200) return `/predict answered ${res.status}: ${(await res.text()).slice(0, 300)}`;
  const problem = checkPrediction(await res.json(), model);
  if (problem) return `/predict: ${problem}`;
  console.log(`smoke test passed (x-request-id ${res.headers.get("x-request-id") ?? "missing"})`);
  return undefined;
}

async function main(): Promise<number> {
  const { values, positionals } = parseArgs({
    args: process.argv.slice(2),
    options: { model: { type: "string" }, attempts: { type: "string", default: "20" } },
    allowPositionals: true,
  });
  const base = positionals[0];
  if (!base) {
    console.error("usage: smoke-test.ts BASE_URL [--model NAME] [--attempts N]");
    return 78;
  }
  // A fresh LoadBalancer can take a while to route; retry before calling it a failure.
  let problem: string | undefined = "not tried";
  for (let i = 1; i <= Number(values.attempts); i++) {
    try {
      problem = await attempt(base, values.model, SIGHTLINE_SMOKE_API_KEY.read());
    } catch (err) {
      problem = (err as Error).message;
    }
    if (problem === undefined) return 0;
    console.error(`attempt ${i}: ${problem}`);
    if (i < Number(values.attempts)) await new Promise((r) => setTimeout(r, 6000));
  }
  console.error(`smoke test failed: ${problem}`);
  return 1;
}

if (import.meta.main) process.exitCode = await main();
