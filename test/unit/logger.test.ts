import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import {
  createLogger,
  REPORTED_ERROR_EVENT,
  setLogContext,
  type LogFields,
  type Severity,
} from "../../core/telemetry/logger.ts";

const LOGGER = fileURLToPath(new URL("../../core/telemetry/logger.ts", import.meta.url));

function capture(base: LogFields = {}, level: Severity = "INFO") {
  const lines: string[] = [];
  const log = createLogger(base, {
    level,
    write: (l) => lines.push(l),
    service: { service: "sightline-test", version: "9.9.9" },
  });
  return { log, entries: () => lines.map((l) => JSON.parse(l) as Record<string, unknown>) };
}

describe("structured logger", () => {
  it("writes one Cloud Logging JSON object per line, with inherited fields and serialised errors", () => {
    const lines: string[] = [];
    const log = createLogger({ component: "test" }, { level: "INFO", write: (l) => lines.push(l) }).child({
      run: "r1",
    });
    log.debug("hidden");
    log.warn("slow consumer", { subscription: "lineage", err: new Error("boom") });
    expect(lines).toHaveLength(1);
    expect(lines[0]).not.toContain("\n");
    const entry = JSON.parse(lines[0] as string) as Record<string, unknown>;
    expect(entry).toMatchObject({
      severity: "WARNING",
      message: "slow consumer",
      component: "test",
      run: "r1",
      subscription: "lineage",
    });
    expect(entry.err).toMatchObject({ name: "Error", message: "boom" });
    expect(Date.parse(entry.time as string)).not.toBeNaN();
    expect(entry.time).toBe(new Date(entry.time as string).toISOString());
  });

  it("maps every level to Cloud Logging's severity and filters below the threshold", () => {
    const { log, entries } = capture({}, "INFO");
    log.debug("d");
    log.info("i");
    log.warn("w");
    log.error("e");
    expect(entries().map((e) => [e.severity, e.message])).toEqual([
      ["INFO", "i"],
      ["WARNING", "w"],
      ["ERROR", "e"],
    ]);
    const quiet = capture({}, "ERROR");
    quiet.log.warn("w");
    quiet.log.error("e");
    expect(quiet.entries().map((e) => e.severity)).toEqual(["ERROR"]);
    const silent = capture({}, "CRITICAL");
    silent.log.error("e");
    expect(silent.entries()).toEqual([]);
  });

  it("lets a child's and a call's fields override inherited ones, each key once per line", () => {
    const lines: string[] = [];
    const log = createLogger({ component: "serving" }, { level: "INFO", write: (l) => lines.push(l) }).child({
      component: "model-host",
    });
    log.info("loaded", { version: 3 });
    log.info("swapped", { component: "batcher" });
    expect(lines[0]!.match(/"component"/g)).toHaveLength(1);
    expect(JSON.parse(lines[0]!)).toMatchObject({ component: "model-host", version: 3 });
    expect(JSON.parse(lines[1]!)).toMatchObject({ component: "batcher" });
  });

  it("writes an error at ERROR as an Error Reporting event: the real stack in stack_trace, the exact @type, serviceContext", () => {
    const { log, entries } = capture({ component: "serving" });
    const err = Object.assign(new Error("model session died"), { code: "ORT_FAIL" });
    log.error("inference failed", { requestId: "r-1", err });
    const [entry] = entries();
    expect(entry!["@type"]).toBe("type.googleapis.com/google.devtools.clouderrorreporting.v1beta1.ReportedErrorEvent");
    expect(entry!["@type"]).toBe(REPORTED_ERROR_EVENT);
    expect(entry!.stack_trace).toBe(err.stack);
    expect(entry!.stack_trace).toMatch(/^Error: model session died\n\s+at .*logger\.test\.ts/);
    expect(entry!.serviceContext).toEqual({ service: "sightline-test", version: "9.9.9" });
    expect(entry!.message).toBe("inference failed: model session died");
    expect(entry!.severity).toBe("ERROR");
    // For humans: what went wrong, without the stack a second time.
    expect(entry!.err).toEqual({ name: "Error", message: "model session died", code: "ORT_FAIL" });
    expect(entry!.requestId).toBe("r-1");
  });

  it("keeps a warning's error out of Error Reporting (no stack_trace, no @type), its stack nested for humans", () => {
    const { log, entries } = capture();
    const err = new TypeError("retrying");
    log.warn("publish failed", { err });
    const [entry] = entries();
    expect(entry).not.toHaveProperty("stack_trace");
    expect(entry).not.toHaveProperty("@type");
    expect(entry!.err).toEqual({ name: "TypeError", message: "retrying", stack: err.stack });
  });

  it("names the service from SIGHTLINE_SERVICE, else K_SERVICE, else the component", () => {
    const saved = { s: process.env.SIGHTLINE_SERVICE, k: process.env.K_SERVICE };
    const serviceOf = (): unknown => {
      const lines: string[] = [];
      createLogger({ component: "functions" }, { level: "INFO", write: (l) => lines.push(l) }).error("x", {
        err: new Error("y"),
      });
      return (JSON.parse(lines[0]!) as { serviceContext: { service: string } }).serviceContext.service;
    };
    try {
      delete process.env.SIGHTLINE_SERVICE;
      delete process.env.K_SERVICE;
      expect(serviceOf()).toBe("sightline-functions");
      process.env.K_SERVICE = "drift-fn";
      expect(serviceOf()).toBe("drift-fn");
      process.env.SIGHTLINE_SERVICE = "sightline-serving";
      expect(serviceOf()).toBe("sightline-serving");
    } finally {
      for (const [name, value] of [
        ["SIGHTLINE_SERVICE", saved.s],
        ["K_SERVICE", saved.k],
      ] as const) {
        if (value === undefined) delete process.env[name];
        else process.env[name] = value;
      }
    }
  });

  it("adds the current context's fields (a request's trace) to every line, under the call's own", () => {
    const { log, entries } = capture();
    let context: LogFields | undefined = { "logging.googleapis.com/spanId": "00f067aa0ba902b7", requestId: "ctx" };
    const previous = setLogContext(() => context);
    try {
      log.info("inside", { requestId: "mine" });
      context = undefined;
      log.info("outside");
    } finally {
      setLogContext(previous);
    }
    const [inside, outside] = entries();
    expect(inside).toMatchObject({ "logging.googleapis.com/spanId": "00f067aa0ba902b7", requestId: "mine" });
    expect(outside).not.toHaveProperty("logging.googleapis.com/spanId");
  });
});

/** Runs `body` in a fresh Node process that imported the logger; resolves with its stderr lines. */
function runChild(body: string): Promise<string[]> {
  const script = `import { createLogger, flushLogs } from ${JSON.stringify(LOGGER)};\n${body}`;
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["--input-type=module", "-e", script], {
      stdio: ["ignore", "ignore", "pipe"],
      env: { ...process.env, SIGHTLINE_LOG_LEVEL: "info" },
    });
    let err = "";
    child.stderr.setEncoding("utf8").on("data", (d: string) => (err += d));
    child.on("error", reject);
    child.on("close", () => resolve(err.split("\n").filter((l) => l.startsWith("{"))));
  });
}

describe("asynchronous stderr (servers)", () => {
  // 20k lines (~1.5 MB) overrun a pipe's buffer, so most are still queued in the process when it ends.
  const N = 20_000;
  const logLines = `const log = createLogger({ component: "serving" }, { async: true });\nfor (let i = 0; i < ${N}; i++) log.info("line", { i });\n`;

  it("loses nothing when the process exits right after logging", async () => {
    const lines = await runChild(`${logLines}process.exit(0);`);
    expect(lines).toHaveLength(N);
    expect(JSON.parse(lines.at(-1)!)).toMatchObject({ message: "line", i: N - 1, severity: "INFO" });
  }, 30_000);

  it("flushLogs() waits until everything is written (a SIGKILL right after it loses nothing)", async () => {
    const lines = await runChild(`${logLines}await flushLogs(20_000);\nprocess.kill(process.pid, "SIGKILL");`);
    expect(lines).toHaveLength(N);
  }, 30_000);
});
