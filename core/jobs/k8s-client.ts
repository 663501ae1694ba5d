import { ApiException, KubeConfig } from "@kubernetes/client-node";
import { z } from "zod";
import { KUBERNETES_SERVICE_HOST } from "../config/settings/platform.ts";

/** In-cluster when KUBERNETES_SERVICE_HOST is set, else the default kubeconfig. */
export function defaultKubeConfig(): KubeConfig {
  const kc = new KubeConfig();
  if (KUBERNETES_SERVICE_HOST.read()) kc.loadFromCluster();
  else kc.loadFromDefault();
  return kc;
}

const StatusBody = z.object({ reason: z.string().optional(), message: z.string().optional() });

/** The API server's own words (a Status object) when there are any. */
export function apiError(err: unknown, what: string): Error {
  if (err instanceof ApiException) {
    let body: unknown = err.body;
    try {
      if (typeof body === "string") body = JSON.parse(body);
    } catch {
      // not JSON: left as is
    }
    const status = StatusBody.safeParse(body);
    const detail = status.success ? [status.data.reason, status.data.message].filter(Boolean).join(": ") : "";
    return new Error(`${what}: HTTP ${err.code}${detail ? ` ${detail}` : ""}`, { cause: err });
  }
  return new Error(`${what}: ${(err as Error).message}`, { cause: err });
}

export const isApiCode = (err: unknown, ...codes: number[]): boolean =>
  err instanceof ApiException && codes.includes(err.code);
