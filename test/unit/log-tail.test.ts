import { mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { tailLines } from "../../core/jobs/log-tail.ts";

describe("tailLines", () => {
  const log = async (text: string): Promise<string> => {
    const path = join(await mkdtemp(join(tmpdir(), "sightline-tail-")), "job.log");
    await writeFile(path, text);
    return path;
  };

  it("keeps a short log whole, blank lines dropped and JSON entries shortened to their message and error", async () => {
    const path = await log(
      `first\n\n${JSON.stringify({ message: "training failed", err: { message: "out of memory" } })}\nlast\n`,
    );
    expect(await tailLines(path)).toEqual({
      lines: ["first", "training failed: out of memory", "last"],
      truncated: false,
    });
  });

  it("keeps at most maxLines lines, and says the log holds more", async () => {
    const path = await log(Array.from({ length: 50 }, (_, i) => `line ${i}`).join("\n"));
    expect(await tailLines(path, { maxLines: 3 })).toEqual({
      lines: ["line 47", "line 48", "line 49"],
      truncated: true,
    });
  });

  it("reads at most maxBytes from the end and drops the partial line it starts inside", async () => {
    const path = await log(`${"x".repeat(10_000)}\nend one\nend two\n`);
    const tail = await tailLines(path, { maxBytes: 12 });
    expect(tail).toEqual({ lines: ["end two"], truncated: true });
  });

  it("cuts a very long line", async () => {
    const path = await log(`${"y".repeat(5000)}\n`);
    const tail = await tailLines(path);
    expect(tail.lines[0]).toHaveLength(1000);
  });
});
