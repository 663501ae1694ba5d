// The serving container (serving/main.ts) as a real cluster of two worker processes with a real ONNX model:
// /metrics and /admin/* answer on the internal port only, and a worker that stops answering (SIGSTOP: its event
// loop frozen, as a blocked one would be) does not blank the scrape.
import { spawn, type ChildProcess } from "node:child_process";
import { createServer } from "node:net";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createLogger } from "../../core/telemetry/logger.ts";
import { loadServingConfig } from "../../serving/config.ts";
import { startServer } from "../../serving/server.ts";
import { greyPng, tinyWorld, TINY_MODEL, type TinyWorld } from "../support/tiny-served-model.ts";

const MAIN = fileURLToPath(new URL("../../serving/main.ts", import.meta.url));
const ADMIN_TOKEN = "an-admin-token-long-enough";

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as { port: number }).port;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, ms = 60_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await probe().catch(() => undefined);
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const gauge = (text: string, state: string): number | undefined => {
  const m = new RegExp(`^sightline_metrics_workers\\{state="${state}"\\} (\\d+)$`, "m").exec(text);
  return m ? Number(m[1]) : undefined;
};

describe(
  "serving cluster: internal port for /metrics and /admin, scrapes survive a blocked worker",
  { timeout: 120_000 },
  () => {
    let world: TinyWorld;
    let child: ChildProcess;
    let stderr = "";
    let internal: string;
    let publicUrl: string;
    const workerPids: number[] = [];

    beforeAll(async () => {
      world = await tinyWorld();
      const internalPort = await freePort();
      internal = `http://127.0.0.1:${internalPort}`;
      child = spawn(process.execPath, [MAIN], {
        cwd: world.home,
        env: {
          ...process.env,
          SIGHTLINE_HOME: world.home,
          SIGHTLINE_MODEL: `${TINY_MODEL}@production`,
          SIGHTLINE_SERVE_HOST: "127.0.0.1",
          PORT: "0",
          SIGHTLINE_INTERNAL_PORT: String(internalPort),
          SIGHTLINE_SERVE_WORKERS: "2",
          SIGHTLINE_METRICS_WORKER_TIMEOUT_MS: "300",
          SIGHTLINE_PREDICTION_LOG_RATE: "0",
          SIGHTLINE_ADMIN_TOKEN: ADMIN_TOKEN,
          SIGHTLINE_LOG_LEVEL: "INFO",
        },
        stdio: ["ignore", "ignore", "pipe"],
      });
      child.stderr!.on("data", (d: Buffer) => {
        stderr += d.toString();
        for (const line of d.toString().split("\n")) {
          if (!line.startsWith("{")) continue;
          const entry = JSON.parse(line) as { message?: string; url?: string; pid?: number };
          if (entry.message === "serving" && entry.url && entry.pid) {
            publicUrl = entry.url;
            workerPids.push(entry.pid);
          }
        }
      });
      await waitFor("both workers and the internal port", async () => {
        const text = await (await fetch(`${internal}/metrics`)).text();
        return gauge(text, "answered") === 2 && /sightline_model_info\{model="tiny",version="1"\} 1/.test(text)
          ? true
          : undefined;
      });
    }, 120_000);

    afterAll(async () => {
      for (const pid of workerPids) process.kill(pid, "SIGCONT");
      if (child && child.exitCode === null) {
        const exited = new Promise((resolve) => child.once("close", resolve));
        child.kill("SIGTERM");
        await exited;
      }
      await world?.close();
    });

    it("answers inference on the public port, and /metrics and /admin only on the internal one", async () => {
      expect(workerPids).toHaveLength(2);
      const res = await fetch(`${publicUrl}/predict`, {
        method: "POST",
        headers: { "content-type": "image/png" },
        body: await greyPng(250),
      });
      expect(res.status).toBe(200);
      expect(((await res.json()) as { predictions: { label: string }[] }).predictions[0]!.label).toBe("light");
      expect((await fetch(`${publicUrl}/metrics`)).status).toBe(404);
      expect(
        (
          await fetch(`${publicUrl}/admin/reload`, {
            method: "POST",
            headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
          })
        ).status,
      ).toBe(404);

      // The internal port reloads every worker, not just the one a connection happened to reach.
      expect((await fetch(`${internal}/admin/reload`, { method: "POST" })).status).toBe(401);
      const reload = await fetch(`${internal}/admin/reload`, {
        method: "POST",
        headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
      });
      expect(reload.status).toBe(200);
      const body = (await reload.json()) as {
        changed: boolean;
        version: number;
        workers: { pid: number; version: number }[];
      };
      expect(body).toMatchObject({ changed: false, version: 1 });
      expect(body.workers.map((w) => w.pid).sort()).toEqual([...workerPids].sort());
    });

    it("answers a scrape with the workers that responded and counts the one that did not", async () => {
      process.kill(workerPids[0]!, "SIGSTOP");
      const res = await fetch(`${internal}/metrics`);
      expect(res.status).toBe(200);
      const text = await res.text();
      expect({ answered: gauge(text, "answered"), missing: gauge(text, "missing") }).toEqual({
        answered: 1,
        missing: 1,
      });
      expect(text).toMatch(/sightline_model_info\{model="tiny",version="1"\} 1/);
      expect(text).toContain("sightline_http_request_duration_seconds_bucket");
      process.kill(workerPids[0]!, "SIGCONT");
      const after = await waitFor("the worker back in the scrape", async () => {
        const t = await (await fetch(`${internal}/metrics`)).text();
        return gauge(t, "answered") === 2 ? t : undefined;
      });
      expect(gauge(after, "missing")).toBe(0);
      expect(stderr).not.toMatch(/"severity":"ERROR"/);
    });
  },
);

describe("single-process server: internal port", () => {
  it("serves /metrics and /admin on the internal port and neither on the public one", async () => {
    const world = await tinyWorld();
    const config = loadServingConfig(
      {},
      {
        host: "127.0.0.1",
        port: 0,
        internalPort: 0,
        workers: 1,
        adminToken: ADMIN_TOKEN,
        model: { name: TINY_MODEL, alias: "production" },
      },
    );
    const server = await startServer(world.rt, config, createLogger({}, { level: "CRITICAL" }), {
      defaultMetrics: false,
    });
    try {
      expect(server.internalUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      expect(server.internalUrl).not.toBe(server.url);
      expect(
        (
          await fetch(`${server.url}/predict`, {
            method: "POST",
            headers: { "content-type": "image/png" },
            body: await greyPng(5),
          })
        ).status,
      ).toBe(200);
      expect((await fetch(`${server.url}/metrics`)).status).toBe(404);
      expect(
        (
          await fetch(`${server.url}/admin/reload`, {
            method: "POST",
            headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
          })
        ).status,
      ).toBe(404);
      expect(await (await fetch(`${server.internalUrl}/metrics`)).text()).toMatch(
        /sightline_predictions_total\{model="tiny",version="1",label="dark"\} 1/,
      );
      expect(
        (
          await fetch(`${server.internalUrl}/admin/reload`, {
            method: "POST",
            headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
          })
        ).status,
      ).toBe(200);
      expect((await fetch(`${server.internalUrl}/predict`, { method: "POST" })).status).toBe(404);
    } finally {
      await server.shutdown();
      await world.close();
    }
  });
});
