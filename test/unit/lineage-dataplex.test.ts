import { mkdtemp } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadConfig } from "../../core/config/config.ts";
import { dataplexEndpoint } from "../../core/config/openlineage.ts";
import { lineageEmitterFrom } from "../../core/lineage/emit.ts";
import { openLineageRunId, type RunEvent } from "../../core/lineage/openlineage.ts";
import { createLogger } from "../../core/telemetry/logger.ts";
import { startOpenLineageSink, type OpenLineageSink } from "../support/openlineage-sink.ts";

/**
 * The Dataplex sink: SIGHTLINE_OPENLINEAGE_AUTH=google takes an access token from Application Default Credentials
 * through google-auth-library, here from a fake GCE metadata server on loopback (the library's own
 * GCE_METADATA_HOST), and POSTs to Dataplex's processOpenLineageRunEvent path, here on a loopback sink.
 */
describe("SIGHTLINE_OPENLINEAGE_AUTH=google (Dataplex)", () => {
  let metadata: Server;
  let tokenRequests = 0;
  let sink: OpenLineageSink;
  const saved = { ...process.env };

  beforeAll(async () => {
    metadata = createServer((req, res) => {
      const headers = { "metadata-flavor": "Google", "content-type": "application/json" };
      if (req.headers["metadata-flavor"] !== "Google") return void res.writeHead(403, headers).end("{}");
      if (req.url?.startsWith("/computeMetadata/v1/instance/service-accounts/default/token")) {
        tokenRequests++;
        return void res
          .writeHead(200, headers)
          .end(JSON.stringify({ access_token: "ya29.fake-token", expires_in: 3599, token_type: "Bearer" }));
      }
      if (req.url?.startsWith("/computeMetadata/v1/project/project-id"))
        return void res.writeHead(200, { ...headers, "content-type": "text/plain" }).end("sightline-test");
      res.writeHead(404, headers).end("{}");
    });
    await new Promise<void>((r) => metadata.listen(0, "127.0.0.1", r));
    // Only the fake metadata server may answer: no key file, no gcloud user credentials, no metadata ping.
    delete process.env.GOOGLE_APPLICATION_CREDENTIALS;
    process.env.CLOUDSDK_CONFIG = await mkdtemp(join(tmpdir(), "sightline-no-gcloud-"));
    process.env.GCE_METADATA_HOST = `127.0.0.1:${(metadata.address() as AddressInfo).port}`;
    process.env.METADATA_SERVER_DETECTION = "assume-present";
    sink = await startOpenLineageSink();
  });
  afterAll(async () => {
    process.env = saved;
    await sink?.close();
    await new Promise((r) => metadata?.close(r));
  });

  it("sends each RunEvent to processOpenLineageRunEvent with the service account's access token", async () => {
    const endpoint = dataplexEndpoint("sightline-test", "europe-west1");
    expect(endpoint).toBe("v1/projects/sightline-test/locations/europe-west1:processOpenLineageRunEvent");
    const config = loadConfig({ SIGHTLINE_HOME: tmpdir(), SIGHTLINE_BLOBS: "gs://sightline-data/sightline" });
    const emitter = lineageEmitterFrom(
      config,
      {
        SIGHTLINE_OPENLINEAGE_URL: sink.url,
        SIGHTLINE_OPENLINEAGE_ENDPOINT: endpoint,
        SIGHTLINE_OPENLINEAGE_AUTH: "google",
      },
      createLogger({}, { level: "CRITICAL" }),
    );
    expect(emitter?.naming).toMatchObject({ datasetNamespace: "gs://sightline-data", root: "sightline" });
    const event = { eventType: "START", run: { runId: openLineageRunId("r1") } } as RunEvent;
    await emitter!.transport.send(event);
    await emitter!.transport.send({ ...event, eventType: "COMPLETE" });
    expect(sink.requests.map((r) => [r.method, r.path, r.headers.authorization])).toEqual([
      [
        "POST",
        "/v1/projects/sightline-test/locations/europe-west1:processOpenLineageRunEvent",
        "Bearer ya29.fake-token",
      ],
      [
        "POST",
        "/v1/projects/sightline-test/locations/europe-west1:processOpenLineageRunEvent",
        "Bearer ya29.fake-token",
      ],
    ]);
    expect(sink.requests.map((r) => (r.body as RunEvent).eventType)).toEqual(["START", "COMPLETE"]);
    // The library caches the token until it expires: one token request for both events.
    expect(tokenRequests).toBe(1);
  });
});
