import type { z } from "zod";
import { ApiError } from "../../api/schemas.ts";
import { snapshotAnswer, staticSnapshot } from "./snapshot.ts";

/** A failed API call, with the server's own message when it sent one. */
export class ApiFailure extends Error {
  readonly status: number;
  constructor(status: number, message: string) {
    super(message);
    this.status = status;
  }
}

async function fetchJson(path: string, signal?: AbortSignal): Promise<{ status: number; body: unknown }> {
  const res = await fetch(path, { headers: { accept: "application/json" }, ...(signal ? { signal } : {}) });
  return { status: res.status, body: await res.json().catch(() => null) };
}

/**
 * GETs an API path and checks the answer with the endpoint's schema (the one the server checked it with). In a
 * static export the answer comes from the page's snapshot instead, checked the same way.
 */
export async function getJson<S extends z.ZodType>(path: string, schema: S, signal?: AbortSignal): Promise<z.infer<S>> {
  const snapshot = staticSnapshot();
  const { status, body } = snapshot ? snapshotAnswer(snapshot, path) : await fetchJson(path, signal);
  if (status < 200 || status > 299) {
    const err = ApiError.safeParse(body);
    throw new ApiFailure(status, err.success ? err.data.error.message : `${path} answered ${status}`);
  }
  return schema.parse(body);
}
