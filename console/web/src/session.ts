import { useEffect, useState } from "preact/hooks";
import { ApiError } from "../../api/schemas.ts";
import { CSRF_HEADER, Session, WriteResult } from "../../api/write-schemas.ts";
import { ApiFailure, getJson } from "./api.ts";

/** Who this browser is signed in as (null until known, or when the session cannot be read). */
export function useSession(): Session | null {
  const [session, setSession] = useState<Session | null>(null);
  useEffect(() => {
    getJson("/api/session", Session).then(setSession, () => setSession(null));
  }, []);
  return session;
}

/** POSTs a write with the session's CSRF token; the cookie goes along (same origin). */
export async function postWrite(path: string, body: unknown, csrf: string): Promise<WriteResult> {
  const res = await fetch(path, {
    method: "POST",
    credentials: "same-origin",
    headers: { "content-type": "application/json", accept: "application/json", [CSRF_HEADER]: csrf },
    body: JSON.stringify(body),
  });
  const answer: unknown = await res.json().catch(() => null);
  if (!res.ok) {
    const err = ApiError.safeParse(answer);
    throw new ApiFailure(res.status, err.success ? err.data.error.message : `${path} answered ${res.status}`);
  }
  return WriteResult.parse(answer);
}
