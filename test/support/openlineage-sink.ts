import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import type { AddressInfo } from "node:net";

export type SinkRequest = { method: string; path: string; headers: IncomingHttpHeaders; body: unknown };

export interface OpenLineageSink {
  url: string;
  requests: SinkRequest[];
  server: Server;
  close(): Promise<void>;
}

/**
 * A real HTTP server on 127.0.0.1 standing in for an OpenLineage server (Marquez, Dataplex): it keeps every request
 * and answers each with the next status of `statuses` (the last one repeats).
 */
export async function startOpenLineageSink(statuses: number[] = [201]): Promise<OpenLineageSink> {
  const requests: SinkRequest[] = [];
  const server = createServer((req, res) => {
    let body = "";
    req.on("data", (c: Buffer) => (body += c.toString()));
    req.on("end", () => {
      let parsed: unknown = body;
      try {
        parsed = JSON.parse(body);
      } catch {
        // Kept as text: the test says what it expected.
      }
      requests.push({ method: req.method ?? "", path: req.url ?? "", headers: req.headers, body: parsed });
      const status = statuses[Math.min(requests.length - 1, statuses.length - 1)] ?? 201;
      res
        .writeHead(status, { "content-type": "application/json" })
        .end(status < 300 ? "{}" : `{"error":"status ${status} from the test sink"}`);
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    requests,
    server,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

/** A loopback URL where nothing listens (a server that was started and closed). */
export async function deadUrl(): Promise<string> {
  const sink = await startOpenLineageSink();
  await sink.close();
  return sink.url;
}
