import type { EnvVar } from "../env.ts";
import { CONSOLE_SETTINGS } from "./console.ts";
import { CONTRACT_SETTINGS } from "./trainer-contract.ts";
import { FUNCTION_SETTINGS } from "./functions.ts";
import { LINEAGE_SETTINGS } from "./lineage.ts";
import { PLATFORM_SETTINGS } from "./platform.ts";
import { SERVING_SETTINGS, SIGHTLINE_SERVE_WORKER } from "./serving.ts";
import { STORE_SETTINGS } from "./stores.ts";
import { TOOL_SETTINGS } from "./tools.ts";
import { TRAINER_JOB_SETTINGS } from "./trainer-job.ts";

/** Every environment variable Sightline reads or hands a trainer, grouped as the README's table shows them. */
export const SETTINGS_GROUPS: readonly { title: string; settings: readonly EnvVar<unknown>[] }[] = [
  { title: "Stores", settings: STORE_SETTINGS },
  { title: "Serving", settings: [...SERVING_SETTINGS, SIGHTLINE_SERVE_WORKER] },
  { title: "Training jobs", settings: TRAINER_JOB_SETTINGS },
  { title: "Contract trainers", settings: CONTRACT_SETTINGS },
  { title: "Functions and policies", settings: FUNCTION_SETTINGS },
  { title: "Lineage", settings: LINEAGE_SETTINGS },
  { title: "Console", settings: CONSOLE_SETTINGS },
  { title: "Logging and platform", settings: PLATFORM_SETTINGS },
  { title: "Benchmarks and CI", settings: TOOL_SETTINGS },
];

export const ALL_SETTINGS: readonly EnvVar<unknown>[] = SETTINGS_GROUPS.flatMap((g) => g.settings);

/** Each name, current or deprecated, to its variable. */
export const SETTINGS_BY_NAME: ReadonlyMap<string, EnvVar<unknown>> = new Map(
  ALL_SETTINGS.flatMap((v) => [v.name, ...(v.deprecatedAliases ?? [])].map((n) => [n, v] as const)),
);
