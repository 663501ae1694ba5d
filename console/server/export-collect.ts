import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import { SightlineError } from "../../core/errors.ts";
import type { Logger } from "../../core/telemetry/logger.ts";
import { DatasetList, DriftHistory, JobList, LineageGraph, ModelList, RunsPage } from "../api/schemas.ts";
import { snapshotKey, type StaticSnapshot } from "../api/snapshot.ts";
import { createConsoleApp } from "./app.ts";
import type { ReadDeps } from "./read-model.ts";

export type Answers = StaticSnapshot["answers"];

/** The runs page's first page, as the front end asks for it (`#/runs` with no filter). */
const RUNS_FIRST_PAGE = `/api/runs?${new URLSearchParams({ limit: "25" }).toString()}`;
const seg = encodeURIComponent;
const lineagePath = (q: string): string => `/api/lineage/search?${new URLSearchParams({ q }).toString()}`;

/**
 * Asks the console's own API (the app `sightline ui` serves, with writes off, on a loopback port of its own) for
 * everything the exported pages read, and keeps each answer as it came: status and JSON body. Going through the
 * app, not around it, keeps the snapshot byte for byte what the live console answers, and a page another route
 * feeds needs only its path added here.
 *
 * What is exported: the session (writes off), the models list and each model's page (with why each version exists), each version's drift history
 * (with the reports of its drifted windows and its latest) and lineage, the lineage of each id in `lineage` (a served prediction, say), the verification of production's
 * versions and of the traced ids' models, the first page of runs and each of those runs, the datasets and jobs
 * with each one's page. Dataset thumbnails (images, not JSON) and run comparisons are left out.
 */
export async function collectAnswers(
  deps: ReadDeps & { log: Logger },
  lineage: readonly string[] = [],
): Promise<Answers> {
  const app = createConsoleApp({ meta: deps.meta, blobs: deps.blobs, log: deps.log });
  const server = await new Promise<Server>((resolve, reject) => {
    const s = app.listen(0, "127.0.0.1", (err?: Error) => (err ? reject(err) : resolve(s)));
  });
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const answers: Answers = {};
  const asked = new Set<string>();
  /** GETs one path once; the parsed body when it answered 200. */
  const get = async <T>(path: string, schema?: { parse(v: unknown): T }): Promise<T | undefined> => {
    const key = snapshotKey(path);
    if (asked.has(key)) return undefined;
    asked.add(key);
    const res = await fetch(`${base}${path}`, { headers: { accept: "application/json" } });
    const body: unknown = await res.json().catch(() => null);
    if (body === null) throw new SightlineError("invalid", "export_not_json", `${path} did not answer JSON`);
    answers[key] = { status: res.status, body };
    if (res.status >= 500) deps.log.warn("the console API failed while exporting; the page shows its error", { path });
    return res.status === 200 && schema ? schema.parse(body) : undefined;
  };
  try {
    await get("/api/session");
    const [models, runs, datasets, jobs] = await Promise.all([
      get("/api/models", ModelList),
      get(RUNS_FIRST_PAGE, RunsPage),
      get("/api/datasets", DatasetList),
      get("/api/jobs", JobList),
    ]);
    const versions = (models?.models ?? []).flatMap((m) => m.versions.map((v) => ({ name: m.name, v: v.version })));
    const drift = async ({ name, v }: { name: string; v: number }): Promise<void> => {
      const history = await get(`/api/drift/${seg(name)}/${v}`, DriftHistory);
      // A window's report re-reads its predictions (a fraction of a second each): the windows that drifted, which
      // are the ones a reader opens, and the latest.
      const reports = history?.reports ?? [];
      const shown = reports.filter((r, i) => r.drift || i === reports.length - 1);
      for (const r of shown) await get(`/api/drift/${seg(name)}/${v}/${r.seq}`);
    };
    await Promise.all([
      ...(models?.models ?? []).flatMap((m) => [
        get(`/api/models/${seg(m.name)}`),
        get(`/api/models/${seg(m.name)}/provenance`),
      ]),
      ...versions.map(drift),
      ...(runs?.runs ?? []).map((r) => get(`/api/runs/${seg(r.runId)}`)),
      ...(datasets?.datasets ?? []).map((d) => get(`/api/datasets/${seg(d.id)}`)),
      ...(jobs?.jobs ?? []).map((j) => get(`/api/jobs/${seg(j.name)}`)),
    ]);
    // Verifying re-reads every stored byte of a model and its dataset (a second or more on the demo's): only the
    // models a reader is sent to verify, production's and those of the traced ids.
    const production = (models?.models ?? []).flatMap((m) =>
      m.aliases.production === undefined ? [] : [`${m.name}:${m.aliases.production}`],
    );
    const toVerify = new Set(production);
    for (const q of lineage) {
      const graph = await get(lineagePath(q), LineageGraph);
      const model = graph?.nodes.find((n) => n.kind === "model")?.label.replace(/^model /, "");
      if (model) toVerify.add(model);
    }
    await Promise.all(versions.map(({ name, v }) => get(lineagePath(`${name}:${v}`))));
    for (const model of toVerify) await get(`/api/lineage/verify?${new URLSearchParams({ model }).toString()}`);
  } finally {
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
  }
  return answers;
}
