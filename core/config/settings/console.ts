import { z } from "zod";
import { defineEnv, type EnvSpec } from "../env.ts";

// The web console's settings (`sightline ui`, and the `console` Deployment on GKE). A blank value counts as unset.
export const IAP_JWKS_URL = "https://www.gstatic.com/iap/verify/public_key-jwk";

const consoleEnv = <T, const N extends string>(spec: Omit<EnvSpec<T, N>, "components" | "emptyIsUnset">) =>
  defineEnv<T, N>({ components: ["cli"], emptyIsUnset: true, ...spec });

export const SIGHTLINE_CONSOLE_AUTH = consoleEnv({
  name: "SIGHTLINE_CONSOLE_AUTH",
  schema: z.enum(["local", "iap"]),
  default: "local",
  doc: "who may write in the console: `local` (a token kept under `SIGHTLINE_HOME`, opened once as a link) or `iap` (Identity-Aware Proxy's signed header, on GKE)",
});
export const SIGHTLINE_CONSOLE_IAP_AUDIENCE = consoleEnv({
  name: "SIGHTLINE_CONSOLE_IAP_AUDIENCE",
  schema: z
    .string()
    .regex(
      /^\/projects\/\d+\/(global\/backendServices|apps)\/[\w-]+$/,
      "expected /projects/NUMBER/global/backendServices/ID",
    ),
  doc: "for `iap`: the `aud` of IAP's signed header, `/projects/NUMBER/global/backendServices/ID`",
});
export const SIGHTLINE_CONSOLE_IAP_JWKS_URL = consoleEnv({
  name: "SIGHTLINE_CONSOLE_IAP_JWKS_URL",
  schema: z.url({ protocol: /^https?$/ }),
  default: IAP_JWKS_URL,
  doc: "where IAP's signing keys are read (cached)",
});
export const SIGHTLINE_CONSOLE_WRITES = consoleEnv({
  name: "SIGHTLINE_CONSOLE_WRITES",
  schema: z.enum(["on", "off"]),
  default: "on",
  doc: "`off` makes the console read-only: promote, roll back and approve answer 405",
});

export const SIGHTLINE_CONSOLE_SERVING_URL = consoleEnv({
  name: "SIGHTLINE_CONSOLE_SERVING_URL",
  schema: z.url({ protocol: /^https?$/ }),
  defaultDoc: "unset: the Predict page says how to set it",
  doc: "the inference API the Predict page sends images to, through the console's server (`sightline ui --serving-url`)",
});
export const SIGHTLINE_CONSOLE_SERVING_API_KEY = consoleEnv({
  name: "SIGHTLINE_CONSOLE_SERVING_API_KEY",
  schema: z.string().min(1),
  doc: "the API key the console's server sends to the inference API (`SIGHTLINE_SERVE_AUTH=api-key`); never reaches the browser",
  secret: true,
});
export const SIGHTLINE_CONSOLE_PREDICT_MAX_BYTES = consoleEnv({
  name: "SIGHTLINE_CONSOLE_PREDICT_MAX_BYTES",
  schema: z.coerce
    .number()
    .int()
    .min(1)
    .max(1 << 30),
  default: String(10 * 1024 * 1024),
  defaultDoc: "10 MB",
  doc: "largest image the Predict page uploads, bytes (413 before anything is forwarded)",
});
export const SIGHTLINE_CONSOLE_PREDICT_TIMEOUT_MS = consoleEnv({
  name: "SIGHTLINE_CONSOLE_PREDICT_TIMEOUT_MS",
  schema: z.coerce.number().int().min(100).max(600_000),
  default: "15000",
  doc: "how long the console waits for the inference API's answer, ms (then 504)",
});

export const CONSOLE_SETTINGS = [
  SIGHTLINE_CONSOLE_AUTH,
  SIGHTLINE_CONSOLE_IAP_AUDIENCE,
  SIGHTLINE_CONSOLE_IAP_JWKS_URL,
  SIGHTLINE_CONSOLE_WRITES,
  SIGHTLINE_CONSOLE_SERVING_URL,
  SIGHTLINE_CONSOLE_SERVING_API_KEY,
  SIGHTLINE_CONSOLE_PREDICT_MAX_BYTES,
  SIGHTLINE_CONSOLE_PREDICT_TIMEOUT_MS,
] as const;
