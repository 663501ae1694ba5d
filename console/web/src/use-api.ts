import { useEffect, useState } from "preact/hooks";
import type { z } from "zod";
import { getJson } from "./api.ts";

export type Loaded<T> =
  { state: "loading" } | { state: "error"; message: string; status?: number } | { state: "ready"; data: T };

/** Loads `path` (when not null) and re-loads when it changes; a newer request supersedes an older one. */
export function useApi<S extends z.ZodType>(path: string | null, schema: S): Loaded<z.infer<S>> {
  const [loaded, setLoaded] = useState<Loaded<z.infer<S>>>({ state: "loading" });
  useEffect(() => {
    if (path === null) return;
    const abort = new AbortController();
    setLoaded({ state: "loading" });
    getJson(path, schema, abort.signal).then(
      (data) => setLoaded({ state: "ready", data }),
      (err: unknown) => {
        if (abort.signal.aborted) return;
        setLoaded({
          state: "error",
          message: err instanceof Error ? err.message : String(err),
          ...(typeof (err as { status?: unknown }).status === "number"
            ? { status: (err as { status: number }).status }
            : {}),
        });
      },
    );
    return () => abort.abort();
  }, [path]);
  return loaded;
}
