// A stand-in for trainer/main.ts, run by LocalJobRunner in unit tests: it prints the environment it got and then
// behaves according to the model name, in milliseconds instead of minutes.
import { existsSync } from "node:fs";
import { join } from "node:path";

const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => k.startsWith("SIGHTLINE_")));
process.stdout.write(`env ${JSON.stringify(env)}\n`);

const model = process.env.SIGHTLINE_TRAIN_MODEL_NAME ?? "";
if (model === "broken") {
  process.stdout.write("loading dataset\n");
  process.stderr.write(
    `${JSON.stringify({ severity: "ERROR", message: "training failed", err: { message: "dataset not found" } })}\n`,
  );
  process.exit(1);
}
if (model === "records") {
  // Starts its run as the real trainer does (putRun, running, with the job's tags), says so, then hangs until
  // killed or until it exits with the code the release file names, without ever finishing the run.
  const { putRun } = await import("../../core/jobs/run-record.ts");
  const { SqliteStore } = await import("../../core/meta/sqlite-store.ts");
  const { readTrainerJobEnv } = await import("../../core/config/settings/trainer-job.ts");
  const { jobTags } = await import("../../trainer/job-tags.ts");
  const { readFileSync } = await import("node:fs");
  const read = readTrainerJobEnv(process.env);
  if (!read.ok) throw new Error(read.issues.join("; "));
  const meta = new SqliteStore((process.env.SIGHTLINE_META ?? "").replace(/^sqlite:\/\//, ""));
  const requestId = read.value.requestId;
  await putRun(meta, {
    runId: `run-${requestId}`,
    requestId,
    model,
    datasetId: read.value.datasetId,
    trainer: { kind: "builtin", args: {} },
    status: "running",
    startedAt: new Date().toISOString(),
    metrics: [{ epoch: 1, loss: 0.5 }],
    invalidMetricLines: 0,
    tags: { actor: "trainer", ...jobTags(read.value) },
    heartbeatSeconds: 30,
  });
  await meta.close();
  process.stdout.write("run recorded\n");
  const release = join(process.env.SIGHTLINE_HOME ?? ".", `release-${requestId}`);
  while (!existsSync(release)) await new Promise((r) => setTimeout(r, 20));
  process.exit(Number(readFileSync(release, "utf8")));
}
if (model === "slow") {
  // Runs until the test creates the release file, so the test can look at a running job.
  const release = join(process.env.SIGHTLINE_HOME ?? ".", `release-${process.env.SIGHTLINE_REQUEST_ID}`);
  while (!existsSync(release)) await new Promise((r) => setTimeout(r, 20));
}
process.stdout.write("registered\n");
