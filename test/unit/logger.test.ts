import { describe, expect, it } from "vitest";
import { createLogger } from "../../core/telemetry/logger.ts";

describe("structured logger", () => {
  it("writes one Cloud Logging JSON object per line, with inherited fields and serialised errors", () => {
    const lines: string[] = [];
    const log = createLogger({ component: "test" }, { level: "INFO", write: (l) => lines.push(l) }).child({ run: "r1" });
    log.debug("hidden");
    log.warn("slow consumer", { subscription: "lineage", err: new Error("boom") });
    expect(lines).toHaveLength(1);
    const entry = JSON.parse(lines[0] as string) as Record<string, unknown>;
    expect(entry).toMatchObject({ severity: "WARNING", message: "slow consumer", component: "test", run: "r1", subscription: "lineage" });
    expect(entry.err).toMatchObject({ name: "Error", message: "boom" });
    expect(Date.parse(entry.time as string)).not.toBeNaN();
  });
});
