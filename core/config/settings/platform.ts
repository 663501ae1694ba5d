import { z } from "zod";
import { defineEnv } from "../env.ts";

// Logging, the acting user, and what the platforms we run on set (Cloud Run, Cloud Functions, Kubernetes, CI).
const every = ["cli", "serving", "trainer", "functions"] as const;

export const SIGHTLINE_LOG_LEVEL = defineEnv({
  name: "SIGHTLINE_LOG_LEVEL",
  // core/telemetry/logger.ts maps it; an unknown level is `info`, as a log setting must not stop a process.
  schema: z.string(),
  defaultDoc: "`info`",
  doc: "`debug`, `info`, `notice`, `warning`, `error` or `critical`",
  components: every,
});
export const SIGHTLINE_SERVICE = defineEnv({
  name: "SIGHTLINE_SERVICE",
  schema: z.string(),
  defaultDoc: "`K_SERVICE`, else `sightline-<component>`",
  doc: "Error Reporting's service name",
  components: every,
  emptyIsUnset: true,
});
export const SIGHTLINE_SERVICE_VERSION = defineEnv({
  name: "SIGHTLINE_SERVICE_VERSION",
  schema: z.string(),
  defaultDoc: "`K_REVISION`, else package.json's",
  doc: "Error Reporting's service version",
  components: every,
  emptyIsUnset: true,
});
export const K_SERVICE = defineEnv({
  name: "K_SERVICE",
  schema: z.string(),
  doc: "set by Cloud Run and Cloud Functions: the service name",
  components: every,
  emptyIsUnset: true,
});
export const K_REVISION = defineEnv({
  name: "K_REVISION",
  schema: z.string(),
  doc: "set by Cloud Run and Cloud Functions: the revision",
  components: every,
  emptyIsUnset: true,
});
export const GOOGLE_CLOUD_PROJECT = defineEnv({
  name: "GOOGLE_CLOUD_PROJECT",
  schema: z.string(),
  doc: "the project request logs' trace ids belong to",
  components: ["serving"],
});
export const SIGHTLINE_ACTOR = defineEnv({
  name: "SIGHTLINE_ACTOR",
  schema: z.string(),
  defaultDoc: "`user@host`",
  doc: "who acts, in audit records",
  components: ["cli"],
  emptyIsUnset: true,
});
export const CI = defineEnv({
  name: "CI",
  schema: z.string(),
  doc: "`true`: no questions and no progress lines on the terminal",
  components: ["cli"],
});
export const KUBERNETES_SERVICE_HOST = defineEnv({
  name: "KUBERNETES_SERVICE_HOST",
  schema: z.string(),
  doc: "set by the kubelet: the job runner then uses the pod's service account",
  components: ["cli", "functions"],
  emptyIsUnset: true,
});

export const PLATFORM_SETTINGS = [
  SIGHTLINE_LOG_LEVEL,
  SIGHTLINE_SERVICE,
  SIGHTLINE_SERVICE_VERSION,
  K_SERVICE,
  K_REVISION,
  GOOGLE_CLOUD_PROJECT,
  SIGHTLINE_ACTOR,
  CI,
  KUBERNETES_SERVICE_HOST,
] as const;
