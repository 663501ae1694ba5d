import { open } from "node:fs/promises";
import { z } from "zod";

/** Enough of the log's end to hold its last line (a JSON log entry with an error and a short stack). */
const TAIL_BYTES = 8192;

/** The last non-empty line of the log; a JSON log entry is shortened to its message and error. */
export async function lastLine(path: string): Promise<string | undefined> {
  const file = await open(path, "r");
  try {
    const { size } = await file.stat();
    const length = Math.min(size, TAIL_BYTES);
    const buffer = Buffer.alloc(length);
    await file.read(buffer, 0, length, size - length);
    const line = buffer
      .toString("utf8")
      .split("\n")
      .map((l) => l.trim())
      .filter(Boolean)
      .at(-1);
    return line === undefined ? undefined : readable(line).slice(0, 500);
  } finally {
    await file.close();
  }
}

const LogEntry = z.object({ message: z.string(), err: z.object({ message: z.string() }).optional() });

function readable(line: string): string {
  let json: unknown;
  try {
    json = JSON.parse(line);
  } catch {
    return line;
  }
  const entry = LogEntry.safeParse(json);
  if (!entry.success) return line;
  return entry.data.err ? `${entry.data.message}: ${entry.data.err.message}` : entry.data.message;
}

/**
 * The last lines of a log, bounded both ways (at most `maxBytes` read from its end, at most `maxLines` kept), each
 * JSON entry shortened as by lastLine and each line cut at 1000 characters. `truncated`: the log holds more.
 */
export async function tailLines(
  path: string,
  options: { maxLines?: number; maxBytes?: number } = {},
): Promise<{ lines: string[]; truncated: boolean }> {
  const maxLines = options.maxLines ?? 200;
  const maxBytes = options.maxBytes ?? 64 * 1024;
  const file = await open(path, "r");
  try {
    const { size } = await file.stat();
    const length = Math.min(size, maxBytes);
    const buffer = Buffer.alloc(length);
    await file.read(buffer, 0, length, size - length);
    return tailText(buffer.toString("utf8"), { maxLines, partialStart: length < size });
  } finally {
    await file.close();
  }
}

/**
 * The last `maxLines` non-empty lines of a log's text, shortened as by tailLines. `partialStart`/`partialEnd`: the
 * text was cut there, so the line at that end is incomplete and dropped (and `truncated` is set).
 */
export function tailText(
  text: string,
  options: { maxLines: number; partialStart?: boolean; partialEnd?: boolean },
): { lines: string[]; truncated: boolean } {
  let lines = text.split("\n");
  // A read that starts inside the file starts inside a line: that partial line is dropped.
  if (options.partialStart) lines = lines.slice(1);
  if (options.partialEnd) lines = lines.slice(0, -1);
  lines = lines.map((l) => l.trimEnd()).filter(Boolean);
  const kept = lines.slice(-options.maxLines);
  return {
    lines: kept.map((l) => readable(l.trim()).slice(0, 1000)),
    truncated: Boolean(options.partialStart || options.partialEnd) || kept.length < lines.length,
  };
}
