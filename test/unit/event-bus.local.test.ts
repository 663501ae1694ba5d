import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { LocalBus } from "../../core/events/local-bus.ts";
import { createLogger } from "../../core/telemetry/logger.ts";
import { eventBusContract } from "../contract/event-bus.contract.ts";

const db = join(mkdtempSync(join(tmpdir(), "sightline-bus-")), "meta.db");

eventBusContract("local SQLite queue", () => ({
  open: async () => new LocalBus(db, { pollMs: 20, logger: createLogger({}, { level: "CRITICAL" }) }),
  injectRaw: async (bus, type, body) => (bus as LocalBus).publishRaw(type, body),
}));
