import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdir, readdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";

const CONSOLE = fileURLToPath(new URL("..", import.meta.url));
const ROOT = dirname(CONSOLE);
const WEB = join(CONSOLE, "web");
/** Where the built front end lives: under node_modules, so it goes with the install and never into git. */
export const DEFAULT_BUILD_DIR = join(ROOT, "node_modules", ".cache", "sightline-console");
const STAMP = ".sources.sha256";

async function filesUnder(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true, recursive: true });
  return entries
    .filter((e) => e.isFile())
    .map((e) => join(e.parentPath, e.name))
    .sort();
}

/** One digest of everything the build reads: the front end, the shared schemas, and the versions of the libraries. */
export async function sourcesDigest(): Promise<string> {
  const hash = createHash("sha256");
  const files = [
    ...(await filesUnder(WEB)),
    ...(await filesUnder(join(CONSOLE, "api"))),
    join(ROOT, "package-lock.json"),
  ];
  for (const f of files)
    hash
      .update(`${relative(ROOT, f)}\0`)
      .update(await readFile(f))
      .update("\0");
  return hash.digest("hex");
}

/**
 * The built front end's directory, built with Vite when it is missing or its sources changed since (a fresh clone
 * after `npm ci` builds on the first `sightline ui`, in a few seconds). The build goes to a fresh directory renamed
 * into place, so a console started meanwhile never serves half a build.
 */
export async function ensureBuilt(outDir = DEFAULT_BUILD_DIR, log: (line: string) => void = () => {}): Promise<string> {
  const digest = await sourcesDigest();
  const stamp = join(outDir, STAMP);
  if (existsSync(stamp) && (await readFile(stamp, "utf8")) === digest && existsSync(join(outDir, "index.html")))
    return outDir;
  log("building the console's front end (once per change of its sources)…");
  const tmp = `${outDir}.tmp-${process.pid}-${Date.now()}`;
  await mkdir(dirname(outDir), { recursive: true });
  const { build } = await import("vite");
  await build({
    root: WEB,
    base: "/",
    configFile: false,
    envDir: false,
    publicDir: false,
    logLevel: "warn",
    clearScreen: false,
    oxc: { jsx: { runtime: "automatic", importSource: "preact" } },
    build: {
      outDir: tmp,
      emptyOutDir: true,
      // No inline script anywhere (the CSP allows none): the preload polyfill would be one.
      modulePreload: { polyfill: false },
      assetsInlineLimit: 0,
      target: "es2022",
      reportCompressedSize: false,
    },
  });
  await writeFile(join(tmp, STAMP), digest);
  // Another console (a second `sightline ui`, a test) finished the same build meanwhile and may be serving it.
  if (existsSync(stamp) && (await readFile(stamp, "utf8")) === digest) {
    await rm(tmp, { recursive: true, force: true });
    return outDir;
  }
  await rm(outDir, { recursive: true, force: true });
  try {
    await rename(tmp, outDir);
  } catch (err) {
    // Another console built the same sources at the same time and renamed first: its build is as good as ours.
    await rm(tmp, { recursive: true, force: true });
    if (!existsSync(stamp) || (await readFile(stamp, "utf8")) !== digest) throw err;
  }
  return outDir;
}
