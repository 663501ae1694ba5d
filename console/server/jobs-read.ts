import { SightlineError } from "../../core/errors.ts";
import type { JobReader } from "../../core/jobs/job-runner.ts";
import { localJobReader } from "../../core/jobs/local-runner.ts";
import { JobDetail, JobList } from "../api/schemas.ts";
import type { ReadDeps } from "./read-model.ts";

/** The most log lines one job page shows, and the most bytes read from the log's end for them. */
const TAIL_LINES = 200;
const TAIL_BYTES = 64 * 1024;
const MAX_JOBS = 500;

/** The configured runner's jobs; without one, the local records in the console's MetadataStore. */
const readerOf = (deps: ReadDeps): JobReader => deps.jobs ?? localJobReader(deps.meta);

export async function jobList(deps: ReadDeps): Promise<JobList> {
  return JobList.parse({ jobs: await readerOf(deps).list({ limit: MAX_JOBS }) });
}

export async function jobPage(deps: ReadDeps, name: string): Promise<JobDetail> {
  const reader = readerOf(deps);
  const job = await reader.get(name);
  if (!job) throw new SightlineError("not_found", "job_not_found", `no training job ${name}`);
  const log = await reader.logTail(name, { maxLines: TAIL_LINES, maxBytes: TAIL_BYTES });
  return JobDetail.parse({ job, log });
}
