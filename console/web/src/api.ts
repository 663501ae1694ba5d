import type { z } from "zod";
import { ApiError } from "../../api/schemas.ts";

/** A failed API call, with the server's own message when it sent one. */
export class ApiFailure extends Error {
  readonly status: number;
  constructor(status: number, message: string) {
    super(message);
    this.status = status;
  }
}

/** GETs an API path and checks the answer with the endpoint's schema (the one the server checked it with). */
export async function getJson<S extends z.ZodType>(path: string, schema: S, signal?: AbortSignal): Promise<z.infer<S>> {
  const res = await fetch(path, { headers: { accept: "application/json" }, ...(signal ? { signal } : {}) });
  const body: unknown = await res.json().catch(() => null);
  if (!res.ok) {
    const err = ApiError.safeParse(body);
    throw new ApiFailure(res.status, err.success ? err.data.error.message : `${path} answered ${res.status}`);
  }
  return schema.parse(body);
}
