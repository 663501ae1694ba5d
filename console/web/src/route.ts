import { useEffect, useState } from "preact/hooks";

/** Where the hash says we are: `#/models`, `#/models/NAME`, `#/lineage?q=ID`, `#/drift`, `#/drift/NAME/VERSION`. */
export type Route =
  | { page: "models" }
  | { page: "model"; name: string }
  | { page: "lineage"; q: string }
  | { page: "drift"; name?: string; version?: number };

export function parseRoute(hash: string): Route {
  const [path = "", query = ""] = hash.replace(/^#/, "").split("?");
  const parts = path
    .split("/")
    .filter(Boolean)
    .map((p) => decodeURIComponent(p));
  if (parts[0] === "models" && parts[1]) return { page: "model", name: parts[1] };
  if (parts[0] === "lineage") return { page: "lineage", q: new URLSearchParams(query).get("q") ?? "" };
  if (parts[0] === "drift") {
    const version = Number(parts[2]);
    return parts[1] && Number.isInteger(version) && version > 0
      ? { page: "drift", name: parts[1], version }
      : { page: "drift" };
  }
  return { page: "models" };
}

export const href = {
  models: () => "#/models",
  model: (name: string) => `#/models/${encodeURIComponent(name)}`,
  lineage: (q: string) => `#/lineage?${new URLSearchParams({ q }).toString()}`,
  drift: (name?: string, version?: number) =>
    name && version ? `#/drift/${encodeURIComponent(name)}/${version}` : "#/drift",
};

export function useRoute(): Route {
  const [route, setRoute] = useState(() => parseRoute(location.hash));
  useEffect(() => {
    const on = () => setRoute(parseRoute(location.hash));
    addEventListener("hashchange", on);
    return () => removeEventListener("hashchange", on);
  }, []);
  return route;
}
