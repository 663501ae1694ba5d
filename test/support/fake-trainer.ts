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
if (model === "slow") {
  // Runs until the test creates the release file, so the test can look at a running job.
  const release = join(process.env.SIGHTLINE_HOME ?? ".", `release-${process.env.SIGHTLINE_REQUEST_ID}`);
  while (!existsSync(release)) await new Promise((r) => setTimeout(r, 20));
}
process.stdout.write("registered\n");
