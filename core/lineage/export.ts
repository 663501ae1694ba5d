import type { RunEvent } from "./openlineage.ts";

export class OpenLineageExportError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "OpenLineageExportError";
  }
}

/** Marquez's (and the OpenLineage HTTP transport's) endpoint under the configured base URL. */
export function lineageEndpoint(baseUrl: string): string {
  let url: URL;
  try {
    url = new URL(baseUrl);
  } catch {
    throw new OpenLineageExportError(`SIGHTLINE_OPENLINEAGE_URL: ${JSON.stringify(baseUrl)} is not a URL`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") throw new OpenLineageExportError(`SIGHTLINE_OPENLINEAGE_URL: ${baseUrl} is not http(s)`);
  return `${url.href.replace(/\/+$/, "")}/api/v1/lineage`;
}

/**
 * POSTs each RunEvent as JSON, in order (START before COMPLETE), stopping at the first failure with an error that
 * names the endpoint, the event and the answer. Returns how many were accepted.
 */
export async function exportRunEvents(baseUrl: string, events: readonly RunEvent[], options: { timeoutMs?: number } = {}): Promise<number> {
  const endpoint = lineageEndpoint(baseUrl);
  let sent = 0;
  for (const event of events) {
    const what = `${event.eventType} event of run ${event.run.runId}`;
    let res: Response;
    try {
      res = await fetch(endpoint, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(event),
        signal: AbortSignal.timeout(options.timeoutMs ?? 10_000),
      });
    } catch (err) {
      const reason = err instanceof Error ? ((err.cause as Error | undefined)?.message ?? err.message) : String(err);
      throw new OpenLineageExportError(`POST ${endpoint} (${what}) failed: ${reason}; ${sent} of ${events.length} events were sent`, { cause: err });
    }
    const body = await res.text();
    if (!res.ok) {
      throw new OpenLineageExportError(`POST ${endpoint} (${what}) answered ${res.status}: ${body.slice(0, 300) || res.statusText}; ${sent} of ${events.length} events were sent`);
    }
    sent++;
  }
  return sent;
}
