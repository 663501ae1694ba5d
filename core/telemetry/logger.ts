/**
 * Structured JSON logs in Cloud Logging's shape, one object per line on stderr (stdout stays for results), written
 * by pino. An `err: Error` at ERROR or above becomes an Error Reporting event (`stack_trace`, `@type`,
 * `serviceContext`); see https://cloud.google.com/error-reporting/docs/formatting-error-messages.
 */
import { pino, type DestinationStream, type Logger as Pino } from "pino";
import packageJson from "../../package.json" with { type: "json" };
import {
  K_REVISION,
  K_SERVICE,
  SIGHTLINE_LOG_LEVEL,
  SIGHTLINE_SERVICE,
  SIGHTLINE_SERVICE_VERSION,
} from "../config/settings/platform.ts";

export type Severity = "DEBUG" | "INFO" | "NOTICE" | "WARNING" | "ERROR" | "CRITICAL";

export type LogFields = Record<string, unknown>;

export interface Logger {
  debug(message: string, fields?: LogFields): void;
  info(message: string, fields?: LogFields): void;
  warn(message: string, fields?: LogFields): void;
  error(message: string, fields?: LogFields): void;
  child(fields: LogFields): Logger;
}

export interface LoggerOptions {
  level?: Severity;
  /** Receives each line (without its newline) instead of stderr: tests. */
  write?: (line: string) => void;
  /**
   * Buffered asynchronous writes to stderr, for servers: a log line never blocks a request. What is buffered is
   * written at process exit (pino's exit hook) and by `flushLogs()`. CLIs keep synchronous writes.
   */
  async?: boolean;
  /** Error Reporting's service; by default SIGHTLINE_SERVICE, K_SERVICE (Cloud Run, Functions) or `sightline-<component>`. */
  service?: ServiceContext;
}

export interface ServiceContext {
  service: string;
  version?: string;
}

export const REPORTED_ERROR_EVENT =
  "type.googleapis.com/google.devtools.clouderrorreporting.v1beta1.ReportedErrorEvent";

type PinoLevel = "debug" | "info" | "notice" | "warn" | "error" | "fatal";
const PINO_LEVEL: Record<Severity, PinoLevel> = {
  DEBUG: "debug",
  INFO: "info",
  NOTICE: "notice",
  WARNING: "warn",
  ERROR: "error",
  CRITICAL: "fatal",
};
const SEVERITY: Record<string, Severity> = Object.fromEntries(
  Object.entries(PINO_LEVEL).map(([s, l]) => [l, s as Severity]),
);
const REPORTED = new Set<Severity>(["ERROR", "CRITICAL"]);

let contextFields: () => LogFields | undefined = () => undefined;

/**
 * Fields every line written in the current async context carries, whichever logger writes it: serving passes the
 * request's trace this way (its AsyncLocalStorage), since core cannot import serving. Returns the previous provider.
 */
export function setLogContext(provider: () => LogFields | undefined): () => LogFields | undefined {
  const previous = contextFields;
  contextFields = provider;
  return previous;
}

// One destination per kind per process: every logger shares stderr, and the exit hook flushes the async one.
let syncStderr: DestinationStream | undefined;
let asyncStderr: ReturnType<typeof pino.destination> | undefined;

function destination(options: LoggerOptions): DestinationStream {
  const write = options.write;
  if (write) return { write: (s: string) => write(s.endsWith("\n") ? s.slice(0, -1) : s) };
  if (options.async) return (asyncStderr ??= pino.destination({ dest: 2, sync: false }));
  return (syncStderr ??= pino.destination({ dest: 2, sync: true }));
}

/** Waits (at most `timeoutMs`) until the asynchronous stderr destination has written what it buffered. */
export async function flushLogs(timeoutMs = 2_000): Promise<void> {
  const stream = asyncStderr;
  // sonic-boom exposes no count of unwritten bytes, and its flush(cb) does not wait when it buffers nothing itself.
  if (!stream || !((stream as unknown as { _len?: number })._len! > 0)) return;
  await new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, timeoutMs);
    stream.once("drain", () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

export function createLogger(base: LogFields = {}, options: LoggerOptions = {}): Logger {
  const level = options.level ?? parseLevel(SIGHTLINE_LOG_LEVEL.read());
  const root = pino(
    {
      level: PINO_LEVEL[level],
      customLevels: { notice: 35 },
      messageKey: "message",
      base: undefined,
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ severity: SEVERITY[label] ?? "INFO" }) },
      // Errors are shaped below, before pino sees them.
      serializers: { err: (e: unknown) => e },
    },
    destination(options),
  );
  const service = options.service ?? defaultService(base);
  return wrap(root, base, service);
}

function wrap(root: Pino<"notice">, base: LogFields, service: ServiceContext): Logger {
  const emit = (severity: Severity, message: string, fields?: LogFields): void => {
    const method = PINO_LEVEL[severity];
    if (!root.isLevelEnabled(method)) return;
    // Later wins: the request's context, then the logger's fields, then the call's.
    const entry: LogFields = { ...contextFields(), ...base, ...fields };
    const err = entry.err;
    if (err instanceof Error) {
      if (REPORTED.has(severity)) {
        entry["@type"] = REPORTED_ERROR_EVENT;
        entry.stack_trace = err.stack ?? `${err.name}: ${err.message}`;
        entry.serviceContext = service;
        entry.err = errorSummary(err);
        message = `${message}: ${err.message}`;
      } else {
        // Below ERROR the stack stays nested, so Error Reporting does not count warnings as errors.
        entry.err = { ...errorSummary(err), stack: err.stack };
      }
    }
    root[method](entry, message);
  };
  return {
    debug: (m, f) => emit("DEBUG", m, f),
    info: (m, f) => emit("INFO", m, f),
    warn: (m, f) => emit("WARNING", m, f),
    error: (m, f) => emit("ERROR", m, f),
    // Fields are merged per line rather than through pino's child bindings, which would repeat an overridden key.
    child: (fields) => wrap(root, { ...base, ...fields }, service),
  };
}

/** What a human reading the line wants of an error; the stack is in `stack_trace`. */
function errorSummary(err: Error): LogFields {
  const summary: LogFields = { name: err.name, message: err.message };
  for (const key of ["code", "kind", "status"] as const) {
    const value = (err as unknown as Record<string, unknown>)[key];
    if (typeof value === "string" || typeof value === "number") summary[key] = value;
  }
  if (err.cause instanceof Error) summary.cause = `${err.cause.name}: ${err.cause.message}`;
  return summary;
}

function defaultService(base: LogFields): ServiceContext {
  const component = typeof base.component === "string" ? base.component : undefined;
  const service = SIGHTLINE_SERVICE.read() ?? K_SERVICE.read() ?? (component ? `sightline-${component}` : "sightline");
  const version = SIGHTLINE_SERVICE_VERSION.read() ?? K_REVISION.read() ?? packageJson.version;
  return { service, version };
}

function parseLevel(value: string | undefined): Severity {
  const upper = value?.toUpperCase();
  if (upper === "WARN") return "WARNING";
  return upper !== undefined && upper in PINO_LEVEL ? (upper as Severity) : "INFO";
}
