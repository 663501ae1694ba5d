// One writer of the SQLite race test, in its own process: waits for "go" on stdin, runs, prints its result.
import { once } from "node:events";
import { SqliteStore } from "../../core/meta/sqlite-store.ts";
import { runRace, type RaceTask } from "./meta-race.ts";

const [path, taskJson, writer] = process.argv.slice(2);
if (!path || !taskJson || !writer) throw new Error("usage: meta-race-worker DB TASK_JSON WRITER");
const store = new SqliteStore(path);
process.stdout.write("ready\n");
await once(process.stdin, "data");
const result = await runRace(store, JSON.parse(taskJson) as RaceTask, writer);
await store.close();
process.stdout.write(`${JSON.stringify(result)}\n`);
process.stdin.destroy();
