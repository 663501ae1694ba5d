// Child process of bench/serve.ts: the control server. node:http and nothing else — it reads the body, optionally
// burns a fixed amount of CPU, and answers a JSON body the size of a /predict answer. Run as several processes on
// one port (SO_REUSEPORT) like Sightline's workers, it measures what this machine allows any Node HTTP server:
//   spin 0:  the HTTP floor, which bounds the best ratio to the raw pipeline any server could reach here;
//   spin t:  a server with Sightline's CPU per request and no GC, batching or model swaps, whose tail under the same
//            paced load is the floor the p99/p50 target can be judged against.
import { createServer } from "node:http";

export interface BareCommand {
  port: number;
  spinMs: number;
}
export type BareReply = { listening: number };

const ANSWER = JSON.stringify({
  model: "bench",
  version: 1,
  predictions: [
    {
      label: "Ankle boot",
      confidence: 0.98,
      probabilities: Object.fromEntries(Array.from({ length: 10 }, (_, i) => [`class ${i}`, 0.1])),
    },
  ],
});

process.once("message", (cmd: BareCommand) => {
  const server = createServer({ keepAliveTimeout: 60_000 }, (req, res) => {
    req.on("data", () => undefined);
    req.on("end", () => {
      const until = performance.now() + cmd.spinMs;
      while (performance.now() < until);
      res.writeHead(200, { "content-type": "application/json", "content-length": Buffer.byteLength(ANSWER) });
      res.end(ANSWER);
    });
  });
  server.listen({ host: "127.0.0.1", port: cmd.port, reusePort: true }, () => {
    const address = server.address();
    process.send?.({ listening: typeof address === "object" && address ? address.port : 0 } satisfies BareReply);
  });
  process.once("SIGTERM", () => server.close(() => process.exit(0)));
});
