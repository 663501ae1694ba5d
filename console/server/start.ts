import { hostname, userInfo } from "node:os";
import type { AddressInfo } from "node:net";
import type { Server } from "node:http";
import type { Runtime } from "../../core/config/runtime.ts";
import { openJobReader } from "../../core/jobs/job-reader.ts";
import type { JobReader } from "../../core/jobs/job-runner.ts";
import { catchUpLineage } from "../../core/lineage/emit.ts";
import { ConfigError } from "../../core/config/config.ts";
import {
  SIGHTLINE_CONSOLE_AUTH,
  SIGHTLINE_CONSOLE_IAP_AUDIENCE,
  SIGHTLINE_CONSOLE_IAP_JWKS_URL,
  SIGHTLINE_CONSOLE_PREDICT_MAX_BYTES,
  SIGHTLINE_CONSOLE_PREDICT_TIMEOUT_MS,
  SIGHTLINE_CONSOLE_SERVING_API_KEY,
  SIGHTLINE_CONSOLE_SERVING_URL,
  SIGHTLINE_CONSOLE_WRITES,
} from "../../core/config/settings/console.ts";
import { SIGHTLINE_PROMOTION_POLICY } from "../../core/config/settings/functions.ts";
import { readDefined } from "../../core/config/env.ts";
import { DEFAULT_POLICY_FILE, loadPolicy } from "../../core/registry/policy.ts";
import type { Evaluator } from "../../core/registry/promote.ts";
import { createConsoleApp } from "./app.ts";
import { iapAuth, localAuth, localToken, type ConsoleAuth } from "./identity.ts";
import { ensureBuilt } from "./build.ts";
import type { PredictSettings } from "./predict-proxy.ts";

export type RunningConsole = {
  url: string;
  /** On the local default: the link that signs this browser in (it carries the token), and where the token is. */
  signIn?: { url: string; tokenFile: string };
  server: Server;
  stop(): Promise<void>;
};

type Env = Record<string, string | undefined>;

/** Who may write, from the settings: nobody (writes off), the holder of the local token, or IAP's users. */
function consoleAuth(
  rt: Runtime,
  env: Env,
  actor: string,
): { auth?: ConsoleAuth; token?: ReturnType<typeof localToken> } {
  if (readDefined(SIGHTLINE_CONSOLE_WRITES, env) === "off") return {};
  if (readDefined(SIGHTLINE_CONSOLE_AUTH, env) === "iap") {
    const audience = SIGHTLINE_CONSOLE_IAP_AUDIENCE.read(env);
    if (audience === undefined)
      throw new ConfigError(
        "SIGHTLINE_CONSOLE_AUTH=iap needs SIGHTLINE_CONSOLE_IAP_AUDIENCE (the backend service's audience)",
      );
    return { auth: iapAuth(audience, readDefined(SIGHTLINE_CONSOLE_IAP_JWKS_URL, env)) };
  }
  const token = localToken(rt.config.home);
  return { auth: localAuth(token.token, actor), token };
}

/** The Predict page's inference API: `--serving-url` wins over SIGHTLINE_CONSOLE_SERVING_URL. */
export function predictSettings(env: Env, servingUrl?: string): PredictSettings {
  const url = servingUrl ?? SIGHTLINE_CONSOLE_SERVING_URL.read(env);
  const apiKey = SIGHTLINE_CONSOLE_SERVING_API_KEY.read(env);
  return {
    ...(url !== undefined ? { servingUrl: url } : {}),
    ...(apiKey !== undefined ? { apiKey } : {}),
    maxBytes: readDefined(SIGHTLINE_CONSOLE_PREDICT_MAX_BYTES, env),
    timeoutMs: readDefined(SIGHTLINE_CONSOLE_PREDICT_TIMEOUT_MS, env),
  };
}

const LOOPBACK = ["127.0.0.1", "localhost", "::1"];
export const isLoopback = (host: string): boolean => LOOPBACK.includes(host) || host.startsWith("127.");

/**
 * Builds the front end if needed and serves it with the API over the runtime's stores. On a loopback address the
 * Host header must name this machine, so a web page elsewhere cannot read the console through DNS rebinding.
 */
export async function startConsole(
  rt: Runtime,
  options: {
    host: string;
    port: number;
    env: Env;
    /** The local user, named in audit records of writes signed in with the local token. */
    actor?: string;
    /** Evaluates production on a candidate's held-out data when a promotion needs it (the CLI's ONNX evaluator). */
    evaluator?: Evaluator;
    /**
     * Whether a lineage search first records the events published since (the embedded default, where the CLI is
     * the lineage consumer). On GKE the lineage function records them and the console's identity only reads.
     */
    catchUpLineage?: boolean;
    /** Where the Jobs page reads training jobs; default: the runner SIGHTLINE_JOBS names (rt.config.jobs). */
    jobs?: JobReader;
    /** The inference API the Predict page uses (`sightline ui --serving-url`), over SIGHTLINE_CONSOLE_SERVING_URL. */
    servingUrl?: string;
    buildDir?: string;
    say?: (line: string) => void;
  },
): Promise<RunningConsole> {
  const predict = predictSettings(options.env, options.servingUrl);
  const staticDir = await ensureBuilt(options.buildDir, options.say);
  // One catch-up at a time: two searches at once would read the same subscription twice.
  let catching: Promise<void> = Promise.resolve();
  const beforeLineage = (): Promise<void> =>
    (catching = catching
      .then(() => catchUpLineage(rt, options.env))
      .catch((err: unknown) => rt.log.warn("lineage catch-up failed; answering from what is recorded", { err })));
  const catchUp = options.catchUpLineage ?? true;
  if (catchUp) await beforeLineage();
  const { auth, token } = consoleAuth(rt, options.env, options.actor ?? `${userInfo().username}@${hostname()}`);
  const writes = auth
    ? {
        meta: rt.meta,
        bus: rt.bus,
        policy: await loadPolicy(SIGHTLINE_PROMOTION_POLICY.read(options.env) ?? DEFAULT_POLICY_FILE),
        ...(options.evaluator ? { evaluator: options.evaluator } : {}),
      }
    : undefined;
  const jobs = options.jobs ?? (await openJobReader(rt.config.jobs, { meta: rt.meta }));
  const app = createConsoleApp({
    ...(auth && writes ? { auth, writes } : {}),
    meta: rt.meta,
    blobs: rt.blobs,
    jobs,
    log: rt.log,
    staticDir,
    predict,
    ...(catchUp ? { beforeLineage } : {}),
    ...(isLoopback(options.host) ? { allowedHosts: [...LOOPBACK, options.host] } : {}),
  });
  const server = await new Promise<Server>((resolve, reject) => {
    // Express 5 calls back with the listen error (a port in use) too.
    const s = app.listen(options.port, options.host, (err?: Error) => (err ? reject(err) : resolve(s)));
  });
  const { port } = server.address() as AddressInfo;
  const host = options.host.includes(":") ? `[${options.host}]` : options.host;
  const url = `http://${host}:${port}/`;
  return {
    url,
    ...(token
      ? { signIn: { url: `${url}login?token=${encodeURIComponent(token.token)}`, tokenFile: token.path } }
      : {}),
    server,
    stop: () => new Promise<void>((resolve) => server.close(() => resolve())).then(() => jobs.close()),
  };
}
