import { JobDetail, JobList } from "../../../api/schemas.ts";
import { when } from "../format.ts";
import { href } from "../route.ts";
import { Scroll, Show, Title } from "../ui.tsx";
import { useApi } from "../use-api.ts";

const stateClass = (s: string): string => (s === "failed" ? "fail" : s === "succeeded" ? "pass" : "");

export function JobsPage() {
  const loaded = useApi("/api/jobs", JobList);
  return (
    <>
      <Title>Jobs</Title>
      <Show
        loaded={loaded}
        render={({ jobs }) =>
          jobs.length === 0 ? (
            <p>No training job has run on this machine yet (the retrain function starts them).</p>
          ) : (
            <Scroll label="Training jobs">
              <table>
                <caption>Training jobs, newest first</caption>
                <thead>
                  <tr>
                    <th scope="col">Job</th>
                    <th scope="col">State</th>
                    <th scope="col">Model</th>
                    <th scope="col">Request</th>
                    <th scope="col">Why</th>
                    <th scope="col">Started → finished</th>
                  </tr>
                </thead>
                <tbody>
                  {jobs.map((j) => (
                    <tr key={j.name}>
                      <th scope="row">
                        <a href={href.job(j.name)}>{j.name}</a>
                      </th>
                      <td class={stateClass(j.state)}>{j.state}</td>
                      <td>{j.model}</td>
                      <td class="id">{j.requestId}</td>
                      <td>{j.reason ?? "—"}</td>
                      <td>{`${j.startedAt ? when(j.startedAt) : "not started"} → ${j.finishedAt ? when(j.finishedAt) : "—"}`}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </Scroll>
          )
        }
      />
    </>
  );
}

export function JobPage({ name }: { name: string }) {
  const loaded = useApi(`/api/jobs/${encodeURIComponent(name)}`, JobDetail);
  return (
    <>
      <Title>{`Job ${name}`}</Title>
      <p>
        <a href={href.jobs()}>All jobs</a>
      </p>
      <Show
        loaded={loaded}
        render={({ job, log }) => (
          <>
            <dl class="facts">
              <dt>State</dt>
              <dd class={stateClass(job.state)}>
                {job.state}
                {job.exitCode !== undefined && job.exitCode !== null ? ` (exit ${job.exitCode})` : ""}
              </dd>
              <dt>Model</dt>
              <dd>
                <a href={href.model(job.model)}>{job.model}</a>
              </dd>
              <dt>Request</dt>
              <dd>
                <a href={href.runs(`request = "${job.requestId}"`)}>{`runs of ${job.requestId}`}</a>
              </dd>
              <dt>Created</dt>
              <dd>{when(job.createdAt)}</dd>
              <dt>Started → finished</dt>
              <dd>{`${job.startedAt ? when(job.startedAt) : "not started"} → ${job.finishedAt ? when(job.finishedAt) : "—"}`}</dd>
              {job.message ? (
                <>
                  <dt>Message</dt>
                  <dd>{job.message}</dd>
                </>
              ) : null}
            </dl>
            <section aria-labelledby="log">
              <h2 id="log">Log</h2>
              {log.missing ? (
                <p>The log file is gone.</p>
              ) : (
                <>
                  <p class="hint">
                    {log.truncated
                      ? `The last ${log.lines.length} lines of the log`
                      : `The whole log (${log.lines.length} lines)`}
                  </p>
                  <pre class="log" tabIndex={0} aria-label={`Log of ${job.name}`}>
                    {log.lines.join("\n")}
                  </pre>
                </>
              )}
            </section>
          </>
        )}
      />
    </>
  );
}
