#!/usr/bin/env node
// Rewrites README.md's configuration table from the settings registry (core/config/settings).
//   node scripts/env-table.ts
import { readFileSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { withSettingsTable } from "../core/config/settings/table.ts";

const readme = fileURLToPath(new URL("../README.md", import.meta.url));
const before = readFileSync(readme, "utf8");
const after = withSettingsTable(before);
if (after !== before) writeFileSync(readme, after);
process.stdout.write(after === before ? "README.md is current\n" : "README.md: configuration table rewritten\n");
