/** Structured JSON logs in Cloud Logging's shape, one object per line on stderr (stdout stays for results). */
export type Severity = "DEBUG" | "INFO" | "NOTICE" | "WARNING" | "ERROR" | "CRITICAL";

export type LogFields = Record<string, unknown>;

export interface Logger {
  debug(message: string, fields?: LogFields): void;
  info(message: string, fields?: LogFields): void;
  warn(message: string, fields?: LogFields): void;
  error(message: string, fields?: LogFields): void;
  child(fields: LogFields): Logger;
}

const RANK: Record<Severity, number> = { DEBUG: 0, INFO: 1, NOTICE: 2, WARNING: 3, ERROR: 4, CRITICAL: 5 };

export function createLogger(
  base: LogFields = {},
  options: { level?: Severity; write?: (line: string) => void } = {},
): Logger {
  const level = options.level ?? parseLevel(process.env.SIGHTLINE_LOG_LEVEL);
  const write = options.write ?? ((line: string) => process.stderr.write(`${line}\n`));
  const emit = (severity: Severity, message: string, fields?: LogFields): void => {
    if (RANK[severity] < RANK[level]) return;
    const entry: LogFields = { severity, message, time: new Date().toISOString(), ...base, ...fields };
    const err = entry.err;
    if (err instanceof Error) entry.err = { name: err.name, message: err.message, stack: err.stack };
    write(JSON.stringify(entry));
  };
  return {
    debug: (m, f) => emit("DEBUG", m, f),
    info: (m, f) => emit("INFO", m, f),
    warn: (m, f) => emit("WARNING", m, f),
    error: (m, f) => emit("ERROR", m, f),
    child: (fields) => createLogger({ ...base, ...fields }, { level, write }),
  };
}

function parseLevel(value: string | undefined): Severity {
  const upper = value?.toUpperCase();
  if (upper === "WARN") return "WARNING";
  return upper !== undefined && upper in RANK ? (upper as Severity) : "INFO";
}
