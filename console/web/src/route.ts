import { useEffect, useState } from "preact/hooks";

/**
 * Where the hash says we are: `#/models`, `#/models/NAME`, `#/models/NAME/VERSION/why`, `#/lineage?q=ID`, `#/drift`,
 * `#/drift/NAME/VERSION`, `#/drift/NAME/VERSION/SEQ`,
 * `#/runs?filter=F&sort=S&limit=N`, `#/runs/ID`, `#/compare?ids=A,B`, `#/datasets`, `#/datasets/ID`, `#/datasets/diff?a=&b=`,
 * `#/jobs`, `#/jobs/NAME`, `#/predict`.
 */
export type Route =
  | { page: "models" }
  | { page: "model"; name: string }
  | { page: "why"; name: string; version: number }
  | { page: "lineage"; q: string }
  | { page: "drift"; name?: string; version?: number }
  | { page: "driftReport"; name: string; version: number; seq: number }
  | { page: "runs"; filter: string; sort: string; limit?: number }
  | { page: "run"; id: string }
  | { page: "compare"; ids: string[] }
  | { page: "datasets" }
  | { page: "dataset"; id: string }
  | { page: "datasetDiff"; a: string; b: string }
  | { page: "jobs" }
  | { page: "job"; name: string }
  | { page: "predict" };

/** `limit=N` (rows per page of runs), when it is a whole number the API accepts. */
function pageSize(params: URLSearchParams): { limit?: number } {
  const n = Number(params.get("limit"));
  return Number.isInteger(n) && n >= 1 && n <= 1000 ? { limit: n } : {};
}

export function parseRoute(hash: string): Route {
  const [path = "", query = ""] = hash.replace(/^#/, "").split("?");
  const parts = path
    .split("/")
    .filter(Boolean)
    .map((p) => decodeURIComponent(p));
  if (parts[0] === "models" && parts[1] && parts[3] === "why" && /^[1-9]\d*$/.test(parts[2] ?? ""))
    return { page: "why", name: parts[1], version: Number(parts[2]) };
  if (parts[0] === "models" && parts[1]) return { page: "model", name: parts[1] };
  const params = new URLSearchParams(query);
  if (parts[0] === "lineage") return { page: "lineage", q: params.get("q") ?? "" };
  if (parts[0] === "runs")
    return parts[1]
      ? { page: "run", id: parts[1] }
      : { page: "runs", filter: params.get("filter") ?? "", sort: params.get("sort") ?? "", ...pageSize(params) };
  if (parts[0] === "compare") return { page: "compare", ids: (params.get("ids") ?? "").split(",").filter(Boolean) };
  if (parts[0] === "datasets" && parts[1] === "diff")
    return { page: "datasetDiff", a: params.get("a") ?? "", b: params.get("b") ?? "" };
  if (parts[0] === "datasets") return parts[1] ? { page: "dataset", id: parts[1] } : { page: "datasets" };
  if (parts[0] === "jobs") return parts[1] ? { page: "job", name: parts[1] } : { page: "jobs" };
  if (parts[0] === "predict") return { page: "predict" };
  if (parts[0] === "drift") {
    const [version, seq] = [Number(parts[2]), Number(parts[3])];
    if (!(parts[1] && Number.isInteger(version) && version > 0)) return { page: "drift" };
    return Number.isInteger(seq) && seq > 0
      ? { page: "driftReport", name: parts[1], version, seq }
      : { page: "drift", name: parts[1], version };
  }
  return { page: "models" };
}

export const href = {
  models: () => "#/models",
  model: (name: string) => `#/models/${encodeURIComponent(name)}`,
  lineage: (q: string) => `#/lineage?${new URLSearchParams({ q }).toString()}`,
  why: (name: string, version: number) => `#/models/${encodeURIComponent(name)}/${version}/why`,
  drift: (name?: string, version?: number) =>
    name && version ? `#/drift/${encodeURIComponent(name)}/${version}` : "#/drift",
  driftReport: (name: string, version: number, seq: number) => `#/drift/${encodeURIComponent(name)}/${version}/${seq}`,
  runs: (filter = "", sort = "") => {
    const q = new URLSearchParams({ ...(filter ? { filter } : {}), ...(sort ? { sort } : {}) }).toString();
    return q ? `#/runs?${q}` : "#/runs";
  },
  run: (id: string) => `#/runs/${encodeURIComponent(id)}`,
  compare: (ids: string[]) => `#/compare?${new URLSearchParams({ ids: ids.join(",") }).toString()}`,
  datasets: () => "#/datasets",
  dataset: (id: string) => `#/datasets/${encodeURIComponent(id)}`,
  datasetDiff: (a: string, b: string) => `#/datasets/diff?${new URLSearchParams({ a, b }).toString()}`,
  jobs: () => "#/jobs",
  job: (name: string) => `#/jobs/${encodeURIComponent(name)}`,
  predict: () => "#/predict",
};

export function useRoute(): Route {
  const [route, setRoute] = useState(() => parseRoute(location.hash));
  useEffect(() => {
    const on = () => setRoute(parseRoute(location.hash));
    addEventListener("hashchange", on);
    // Effects run after the first paint: a hash that changed before the listener existed is read here.
    on();
    return () => removeEventListener("hashchange", on);
  }, []);
  return route;
}
