import { SightlineError } from "../../core/errors.ts";
import { tailLines } from "../../core/jobs/log-tail.ts";
import { Jobs, type JobRecord } from "../../core/jobs/local-runner.ts";
import { JobDetail, JobList } from "../api/schemas.ts";
import type { ReadDeps } from "./read-model.ts";

/** The most log lines one job page shows, and the most bytes read from the log's end for them. */
const TAIL_LINES = 200;
const TAIL_BYTES = 64 * 1024;
const MAX_JOBS = 500;

const row = ({ host: _h, runnerPid: _r, pid: _p, log: _l, ...rest }: JobRecord) => rest;

export async function jobList(deps: ReadDeps): Promise<JobList> {
  const docs = await Jobs.query(deps.meta, { orderBy: { field: "createdAt", direction: "desc" }, limit: MAX_JOBS });
  return JobList.parse({ jobs: docs.map((d) => row(d.data)) });
}

export async function jobPage(deps: ReadDeps, name: string): Promise<JobDetail> {
  const record = await Jobs.get(deps.meta, name);
  if (!record) throw new SightlineError("not_found", "job_not_found", `no training job ${name}`);
  const log = await tailLines(record.log, { maxLines: TAIL_LINES, maxBytes: TAIL_BYTES }).then(
    (t) => ({ ...t, missing: false }),
    () => ({ lines: [], truncated: false, missing: true }),
  );
  return JobDetail.parse({ job: row(record), log });
}
