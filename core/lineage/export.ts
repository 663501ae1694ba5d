import { OpenLineageExportError, type OpenLineageHttpTransport } from "./transport.ts";
import type { RunEvent } from "./openlineage.ts";

export { lineageEndpoint, OpenLineageExportError } from "./transport.ts";

/**
 * POSTs each RunEvent, in order (START before COMPLETE), stopping at the first one the transport could not deliver
 * (after its retries), with an error that says how many were sent. Returns how many were accepted.
 */
export async function exportRunEvents(
  transport: OpenLineageHttpTransport,
  events: readonly RunEvent[],
): Promise<number> {
  let sent = 0;
  for (const event of events) {
    try {
      await transport.send(event);
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      throw new OpenLineageExportError(`${message}; ${sent} of ${events.length} events were sent`, {
        cause: err,
        ...(err instanceof OpenLineageExportError && err.kind === "config" ? { kind: "config" as const } : {}),
      });
    }
    sent++;
  }
  return sent;
}
