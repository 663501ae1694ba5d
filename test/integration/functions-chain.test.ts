import { randomUUID } from "node:crypto";
import { mkdtempSync } from "node:fs";
import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PubSub } from "@google-cloud/pubsub";
import { getTestServer } from "@google-cloud/functions-framework/testing";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { loadConfig } from "../../core/config/config.ts";
import { openRuntime, type Runtime } from "../../core/config/runtime.ts";
import { REPORTS } from "../../core/drift/detect.ts";
import type { DeadLetter } from "../../core/events/event-bus.ts";
import type { PubSubBus } from "../../core/events/pubsub-bus.ts";
import { FUNCTION_SUBSCRIPTIONS } from "../../core/events/subscriptions.ts";
import { GkeJobRunner } from "../../core/jobs/gke-runner.ts";
import { jobNameFor } from "../../core/jobs/job-runner.ts";
import { EVENTS, docKey } from "../../core/lineage/store.ts";
import { CloudMonitoringSink } from "../../core/telemetry/cloud-monitoring-sink.ts";
import { createLogger } from "../../core/telemetry/logger.ts";
import { closeFunctions, initFunctions } from "../../functions/index.ts";
import { FUNCTION_NAMES } from "../../functions/handlers.ts";
import { registerDriftModel, logged, records } from "../support/drift-world.ts";
import { startFakeKubeApi, type FakeKubeApi } from "../support/fake-kube-api.ts";
import { startFakeMonitoring, type FakeMonitoring } from "../support/fake-monitoring.ts";
import { putDataset } from "../support/registry.ts";
import { waitFor } from "../support/wait.ts";

const emulators = inject("emulators");
const missing = (["pubsub", "firestore", "gcs"] as const).filter((e) => emulators[e] === undefined);
const quiet = createLogger({}, { level: "CRITICAL" });
const TRAINER_IMAGE = `europe-docker.pkg.dev/p/sightline/trainer@sha256:${"a".repeat(64)}`;

if (missing.length > 0) {
  describe.skip(`functions chain (${missing.map((m) => emulators.skipped[m] ?? `${m} not running`).join("; ")})`, () => {});
} else {
  describe(
    "functions chained by Pub/Sub push on the emulators, with GKE and Cloud Monitoring fakes",
    { timeout: 120_000 },
    () => {
      const projectId = `sightline-chain-${randomUUID().slice(0, 8)}`;
      let rt: Runtime;
      let kube: FakeKubeApi;
      let monitoring: FakeMonitoring;
      let pubsub: PubSub;
      const servers: Server[] = [];
      const deadLetters: DeadLetter[] = [];
      const datasetId = "c".repeat(64);

      beforeAll(async () => {
        // The Google clients find the emulators through these, as on a developer's machine.
        process.env.PUBSUB_EMULATOR_HOST = emulators.pubsub;
        process.env.FIRESTORE_EMULATOR_HOST = emulators.firestore;
        process.env.STORAGE_EMULATOR_HOST = `http://${emulators.gcs}`;
        const home = mkdtempSync(join(tmpdir(), "sightline-chain-"));
        const config = loadConfig(
          {
            SIGHTLINE_HOME: home,
            SIGHTLINE_BLOBS: `gs://sightline-test/chain-${projectId}`,
            SIGHTLINE_META: `firestore://${projectId}`,
            SIGHTLINE_BUS: `pubsub://${projectId}`,
            SIGHTLINE_JOBS: "k8s://sightline",
          },
          home,
        );
        rt = await openRuntime(config, quiet);
        await registerDriftModel(rt);
        await putDataset(rt.meta, datasetId);
        kube = await startFakeKubeApi();
        monitoring = await startFakeMonitoring();
        await initFunctions({
          config,
          env: {},
          log: quiet,
          jobs: new GkeJobRunner({
            namespace: "sightline",
            image: TRAINER_IMAGE,
            stores: config,
            kubeConfig: kube.kubeConfig(),
            log: quiet,
          }),
          metrics: new CloudMonitoringSink(projectId, monitoring.clientOptions()),
        });
        // One Functions Framework server per function, and a push subscription per topic it is triggered by.
        pubsub = new PubSub({ projectId, apiEndpoint: emulators.pubsub });
        const bus = rt.bus as PubSubBus;
        for (const name of FUNCTION_NAMES) {
          const server = getTestServer(name);
          await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
          servers.push(server);
          const port = (server.address() as AddressInfo).port;
          for (const type of FUNCTION_SUBSCRIPTIONS[name].types) {
            const topic = await bus.topic(type);
            await topic.createSubscription(`${name}-${topic.name.split("/").pop()}`, {
              pushConfig: {
                pushEndpoint: `http://127.0.0.1:${port}/projects/${projectId}/topics/${topic.name.split("/").pop()}`,
              },
            });
          }
        }
        await rt.bus.subscribeDeadLetters("chain-test", async (letter) => void deadLetters.push(letter));
      }, 120_000);

      afterAll(async () => {
        await closeFunctions();
        for (const s of servers) await new Promise((r) => s.close(r));
        await Promise.allSettled([rt?.close(), kube?.close(), monitoring?.close(), pubsub?.close()]);
      });

      it("takes drifted predictions to a drift report, a retraining request and one GKE Job, all in the lineage", async () => {
        const published = logged("shoes", 1, records(500, 21, 1), `chain-${randomUUID()}`);
        await rt.bus.publish(published);
        await waitFor(() => kube.jobs.size > 0, "a Job on the Kubernetes API", 60_000);
        const report = (await rt.meta.get(REPORTS, "shoes:1:1"))?.data as
          { drift: boolean; severity: number } | undefined;
        expect(report?.drift).toBe(true);

        const [job] = [...kube.jobs.values()];
        const requestId = (job!.metadata.annotations as Record<string, string>)["sightline.dev/request-id"]!;
        expect(job!.metadata.name).toBe(jobNameFor(requestId));
        expect(JSON.stringify(job!.spec)).toContain(TRAINER_IMAGE);
        expect(JSON.stringify(job!.spec)).toContain(datasetId);

        // The lineage function saw every step (each event is recorded by id).
        const steps = [published.id, "drift.reported:shoes:1:1", `training.requested:${requestId}`];
        await waitFor(
          async () => (await Promise.all(steps.map((id) => rt.meta.get(EVENTS, docKey(id))))).every(Boolean),
          "lineage of every step",
          30_000,
        );

        // Dashboard metrics reached Cloud Monitoring.
        const series = monitoring.timeSeriesCalls.flatMap((c) => c.request.timeSeries);
        expect(
          series.some((s) => s?.metric?.type?.endsWith("/drift/detected") && s.metric.labels?.model === "shoes"),
        ).toBe(true);

        // Pub/Sub push delivers at least once; a second copy of the same predictions changes nothing.
        await rt.bus.publish(published);
        await new Promise((r) => setTimeout(r, 3_000));
        expect(kube.jobs.size).toBe(1);
        expect(kube.requests.filter((r) => r.method === "POST").length).toBeLessThanOrEqual(2);
      });

      it("dead-letters a malformed message with its reason and keeps going", async () => {
        const bus = rt.bus as PubSubBus;
        const topic = await bus.topic("sightline.predictions.logged");
        await pubsub.topic(topic.name).publishMessage({
          data: Buffer.from('{"specversion":"1.0","type":"sightline.predictions.logged","data":{"model":"shoes"}}'),
        });
        await waitFor(
          () => deadLetters.some((l) => l.subscription === "drift"),
          "the drift function's dead letter",
          30_000,
        );
        const letter = deadLetters.find((l) => l.subscription === "drift")!;
        expect(letter.reason).toMatch(/id|version|records/);
      });
    },
  );
}
