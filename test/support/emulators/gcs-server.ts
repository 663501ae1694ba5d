/**
 * A Cloud Storage JSON-API server on loopback for tests, built from the Firebase CLI's storage emulator
 * (npm `firebase-tools`, a devDependency) without its rules runtime.
 *
 * The CLI's `StorageEmulator.start()` launches the Storage Rules runtime, a Java jar it downloads on first use; we
 * never call it. We only construct `StorageEmulator` (which builds the `StorageLayer`s, `Persistence` and
 * `UploadService` and does no I/O beyond creating its temp directory) and hand it to the server factory
 * `createApp` from `lib/emulator/storage/server.js`. The GCS endpoints (`apis/gcloud.js`) use the admin storage
 * layer, whose rules validator allows everything, so no ruleset is ever consulted. Buckets are created on first use.
 * The CLI's `EmulatorRegistry` is told the port (it builds metadata links from it).
 *
 * Protocol with the parent (`gcs.ts`): prints one line `{"port":N}` on stdout when listening on 127.0.0.1:N.
 * Exits on SIGTERM/SIGINT or when its stdin closes (so it never outlives a parent that died), deleting its
 * private temp directory.
 *
 * Run: node test/support/emulators/gcs-server.ts [projectId]
 */
import { mkdtempSync, rmSync } from "node:fs";
import type { Server } from "node:http";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";

interface ExpressApp {
  listen(port: number, host: string): Server;
}
interface StorageEmulatorCtor {
  new (args: { projectId: string; host: string; port: number; auto_download: boolean }): object;
}

const projectId = process.argv[2] ?? "sightline-test";

// The emulator keeps object bytes under `${os.tmpdir()}/firebase/storage/blobs`; give this process its own
// tmpdir so concurrent runs never share (or delete) each other's files.
const home = mkdtempSync(join(tmpdir(), "sightline-gcs-emulator-"));
process.env.TMPDIR = home;

const require = createRequire(import.meta.url);
const { StorageEmulator } = require("firebase-tools/lib/emulator/storage/index.js") as {
  StorageEmulator: StorageEmulatorCtor;
};
const { createApp } = require("firebase-tools/lib/emulator/storage/server.js") as {
  createApp(projectId: string, emulator: object): Promise<ExpressApp>;
};
const { EmulatorRegistry } = require("firebase-tools/lib/emulator/registry.js") as {
  EmulatorRegistry: { set(name: string, instance: object): void };
};

let server: Server | undefined;
let stopping = false;
function shutdown(code: number): void {
  if (stopping) return;
  stopping = true;
  const finish = (): void => {
    rmSync(home, { recursive: true, force: true });
    process.exit(code);
  };
  if (!server) return finish();
  server.close(finish);
  server.closeAllConnections();
  setTimeout(finish, 2000).unref();
}

process.on("SIGTERM", () => shutdown(0));
process.on("SIGINT", () => shutdown(0));
process.stdin.on("end", () => shutdown(0));
process.stdin.on("close", () => shutdown(0));
process.stdin.resume();

try {
  const emulator = new StorageEmulator({ projectId, host: "127.0.0.1", port: 0, auto_download: false });
  const app = await createApp(projectId, emulator);
  const listening = app.listen(0, "127.0.0.1");
  server = listening;
  listening.on("error", (err) => {
    console.error(`gcs emulator: ${err.message}`);
    shutdown(1);
  });
  listening.on("listening", () => {
    const address = listening.address();
    if (address === null || typeof address === "string") {
      console.error("gcs emulator: no TCP address");
      shutdown(1);
      return;
    }
    // Metadata (bucket selfLinks, resumable upload URLs without a Host header) asks the CLI's registry where the
    // storage emulator listens; register what answers getInfo() with the real port.
    EmulatorRegistry.set("storage", {
      getName: () => "storage",
      getInfo: () => ({ name: "storage", host: "127.0.0.1", port: address.port }),
    });
    process.stdout.write(`${JSON.stringify({ port: address.port })}\n`);
  });
} catch (err) {
  console.error(`gcs emulator failed to start: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
  shutdown(1);
}
