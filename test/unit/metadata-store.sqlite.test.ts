import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SqliteStore } from "../../core/meta/sqlite-store.ts";
import { metadataStoreContract } from "../contract/metadata-store.contract.ts";
import { raceInProcesses } from "../support/process-race.ts";

const db = join(mkdtempSync(join(tmpdir(), "sightline-sqlite-")), "meta.db");

metadataStoreContract("SQLite (8 writer processes)", () => ({
  open: async () => new SqliteStore(db),
  race: (task) => raceInProcesses(db, task),
}));
