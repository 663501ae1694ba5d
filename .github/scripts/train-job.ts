// The CD workflow's training step: submits the training Job to GKE exactly as the retrain function does (through
// GkeJobRunner and k8s/base/trainer-job.yaml), then waits for it to finish.
//   node .github/scripts/train-job.ts --image REPO/trainer@sha256:… --model fmnist --dataset <64 hex> --request-id ID
// The stores come from SIGHTLINE_BLOBS/META/BUS and the namespace from SIGHTLINE_JOBS=k8s://NAMESPACE; the cluster
// from the kubeconfig (KUBECONFIG, written by google-github-actions/get-gke-credentials). Exit 0 when the Job
// succeeded, 1 when it failed or timed out, 78 on a usage or configuration error.
import { parseArgs } from "node:util";
import { loadConfig } from "../../core/config/config.ts";
import { GkeJobRunner } from "../../core/jobs/gke-runner.ts";
import type { JobStatus, TrainingJobSpec } from "../../core/jobs/job-runner.ts";

export interface TrainJobArgs {
  image: string;
  spec: TrainingJobSpec;
  timeoutMinutes: number;
  pollSeconds: number;
}

/** The command line as a job spec; throws with a usage message when something is missing or malformed. */
export function parseTrainJobArgs(argv: string[]): TrainJobArgs {
  const { values } = parseArgs({
    args: argv,
    options: {
      image: { type: "string" },
      model: { type: "string" },
      dataset: { type: "string" },
      "request-id": { type: "string" },
      epochs: { type: "string" },
      reason: { type: "string" },
      "timeout-minutes": { type: "string", default: "240" },
      "poll-seconds": { type: "string", default: "15" },
    },
    strict: true,
  });
  const missing = (["image", "model", "dataset", "request-id"] as const).filter((k) => !values[k]);
  if (missing.length) throw new Error(`missing --${missing.join(", --")}`);
  const spec: TrainingJobSpec = {
    requestId: values["request-id"] as string,
    model: values.model as string,
    datasetId: values.dataset as string,
    // This script is CD's training step: its runs are tagged trigger=ci.
    trigger: "ci",
  };
  if (values.epochs) spec.epochs = Number(values.epochs);
  if (values.reason) spec.reason = values.reason;
  return {
    image: values.image as string,
    spec,
    timeoutMinutes: Number(values["timeout-minutes"]),
    pollSeconds: Number(values["poll-seconds"]),
  };
}

async function main(): Promise<number> {
  let args: TrainJobArgs;
  try {
    args = parseTrainJobArgs(process.argv.slice(2));
  } catch (err) {
    console.error(`train-job: ${(err as Error).message}`);
    return 78;
  }
  const config = loadConfig();
  if (config.jobs.kind !== "k8s") {
    console.error("train-job: SIGHTLINE_JOBS must be k8s://NAMESPACE");
    return 78;
  }
  const runner = new GkeJobRunner({
    namespace: config.jobs.namespace,
    image: args.image,
    stores: config,
    env: gitEnv(process.env),
  });
  try {
    const { name, created } = await runner.submit(args.spec);
    console.log(`${created ? "created" : "found existing"} Job ${config.jobs.namespace}/${name}`);
    const deadline = Date.now() + args.timeoutMinutes * 60_000;
    let last: JobStatus | undefined;
    while (Date.now() < deadline) {
      last = await runner.status(name);
      if (last?.state === "succeeded") {
        console.log(`Job ${name} succeeded`);
        return 0;
      }
      if (last?.state === "failed") {
        console.error(`Job ${name} failed: ${last.message ?? "no message"}`);
        return 1;
      }
      await new Promise((r) => setTimeout(r, args.pollSeconds * 1000));
    }
    console.error(
      `Job ${name} did not finish within ${args.timeoutMinutes} minutes (last state: ${last?.state ?? "unknown"})`,
    );
    return 1;
  } finally {
    await runner.close();
  }
}

/** The commit the Job trains from and its repository (the OpenLineage SourceCodeLocation), from GitHub Actions' own variables. */
export function gitEnv(env: Record<string, string | undefined>): Record<string, string> {
  if (!env.GITHUB_SHA) return {};
  const out: Record<string, string> = { SIGHTLINE_GIT_COMMIT: env.GITHUB_SHA };
  if (env.GITHUB_REPOSITORY)
    out.SIGHTLINE_GIT_REPO_URL = `${env.GITHUB_SERVER_URL || "https://github.com"}/${env.GITHUB_REPOSITORY}`;
  return out;
}

if (import.meta.main) process.exitCode = await main();
