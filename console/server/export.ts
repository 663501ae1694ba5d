import { mkdir, readFile, rename, writeFile } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import { SightlineError } from "../../core/errors.ts";
import type { Logger } from "../../core/telemetry/logger.ts";
import { DriftHistory, ModelList } from "../api/schemas.ts";
import { snapshotKey, type StaticSnapshot } from "../api/snapshot.ts";
import { ensureBuilt } from "./build.ts";
import { collectAnswers, type Answers } from "./export-collect.ts";
import { staticPage } from "./export-html.ts";
import type { ReadDeps } from "./read-model.ts";

export interface ExportOptions {
  /** A file (`….html`), or a directory that gets `index.html`. */
  out: string;
  /** Where the state came from, said in the page's note (SIGHTLINE_HOME, say). */
  source: string;
  /** Ids whose lineage is exported too and linked first: the request id of a served prediction, say. */
  lineage?: string[];
  /** The page a reader lands on (a hash such as `#/models/fmnist`); by default the model when there is one. */
  start?: string;
  buildDir?: string;
  say?: (line: string) => void;
  now?: () => Date;
}

export interface ExportResult {
  path: string;
  bytes: number;
  answers: number;
  /** Milliseconds spent building (or finding) the bundle, asking the API, and in all. */
  ms: { build: number; collect: number; total: number };
}

// The front end's routes (console/web/src/route.ts), for the note's links.
const hash = {
  models: () => "#/models",
  model: (name: string) => `#/models/${encodeURIComponent(name)}`,
  drift: (name: string, version: number) => `#/drift/${encodeURIComponent(name)}/${version}`,
  lineage: (q: string) => `#/lineage?${new URLSearchParams({ q }).toString()}`,
};

/** The built bundle's script and stylesheet, named by its index.html. */
async function builtAssets(dir: string): Promise<{ js: string; css: string }> {
  const html = await readFile(join(dir, "index.html"), "utf8");
  const js = /<script\b[^>]*\bsrc="\/(assets\/[^"]+\.js)"/.exec(html)?.[1];
  const css = /<link\b[^>]*\bhref="\/(assets\/[^"]+\.css)"/.exec(html)?.[1];
  if (!js || !css)
    throw new SightlineError("corrupt", "console_build_unexpected", `${dir}/index.html names no script or stylesheet`);
  return { js: await readFile(join(dir, js), "utf8"), css: await readFile(join(dir, css), "utf8") };
}

/** The note's links: each model, each version's drift where it has reports, then each id traced. */
function highlights(answers: Answers, lineage: readonly string[]): StaticSnapshot["highlights"] {
  const body = (path: string): unknown => {
    const a = answers[snapshotKey(path)];
    return a?.status === 200 ? a.body : undefined;
  };
  const models = ModelList.safeParse(body("/api/models"));
  const links: StaticSnapshot["highlights"] = [];
  for (const m of models.success ? models.data.models : []) {
    links.push({ label: `Model ${m.name}`, href: hash.model(m.name) });
    for (const v of m.versions) {
      const drift = DriftHistory.safeParse(body(`/api/drift/${encodeURIComponent(m.name)}/${v.version}`));
      if (drift.success && drift.data.reports.length > 0)
        links.push({ label: `Drift of ${m.name}:${v.version}`, href: hash.drift(m.name, v.version) });
    }
  }
  for (const id of lineage) links.push({ label: `Lineage of ${id}`, href: hash.lineage(id) });
  return links;
}

/**
 * The console as one self-contained HTML file that opens from file:// with no server: the same bundle `sightline
 * ui` serves (built once per change of its sources, cached), and the API's answers for the pages it exports
 * embedded as data. Writes are off in it; the page says it is a snapshot.
 */
export async function exportConsole(deps: ReadDeps & { log: Logger }, options: ExportOptions): Promise<ExportResult> {
  const started = performance.now();
  const dir = await ensureBuilt(options.buildDir, options.say);
  const assets = await builtAssets(dir);
  const built = performance.now();
  const lineage = options.lineage ?? [];
  const answers = await collectAnswers(deps, lineage);
  const collected = performance.now();
  const models = ModelList.safeParse(answers[snapshotKey("/api/models")]?.body);
  const names = models.success ? models.data.models.map((m) => m.name) : [];
  const snapshot: StaticSnapshot = {
    exportedAt: (options.now?.() ?? new Date()).toISOString(),
    source: options.source,
    start: options.start ?? (names.length === 1 ? hash.model(names[0]!) : hash.models()),
    highlights: highlights(answers, lineage),
    answers,
  };
  const html = staticPage({
    title: `Sightline snapshot${names.length ? ` · ${names.join(", ")}` : ""}`,
    ...assets,
    snapshot,
  });
  const out = resolve(options.out);
  const path = /\.html?$/i.test(out) ? out : join(out, "index.html");
  await mkdir(dirname(path), { recursive: true });
  // Written beside and renamed: a browser reloading the file never reads half of it.
  const tmp = `${path}.tmp-${process.pid}`;
  await writeFile(tmp, html);
  await rename(tmp, path);
  const done = performance.now();
  return {
    path,
    bytes: Buffer.byteLength(html),
    answers: Object.keys(answers).length,
    ms: {
      build: Math.round(built - started),
      collect: Math.round(collected - built),
      total: Math.round(done - started),
    },
  };
}
