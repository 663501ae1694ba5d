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

export const CONSOLE_SETTINGS = [
  SIGHTLINE_CONSOLE_AUTH,
  SIGHTLINE_CONSOLE_IAP_AUDIENCE,
  SIGHTLINE_CONSOLE_IAP_JWKS_URL,
  SIGHTLINE_CONSOLE_WRITES,
] as const;
