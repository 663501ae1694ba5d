import cliProgress from "cli-progress";
import type { Logger } from "../core/telemetry/logger.ts";

/**
 * One progress bar per phase on a terminal (phases may run at the same time); elsewhere one structured log line
 * when each phase ends.
 */
export function phaseProgress(log: Logger): { update: (phase: string, done: number, total: number) => void; stop: () => void } {
  const tty = process.stderr.isTTY === true && process.env.CI !== "true";
  const multi = tty
    ? new cliProgress.MultiBar(
        { format: "{phase} {bar} {value}/{total} {percentage}% | ETA {eta_formatted}", stream: process.stderr, hideCursor: true, clearOnComplete: false },
        cliProgress.Presets.shades_classic,
      )
    : undefined;
  const bars = new Map<string, cliProgress.SingleBar | undefined>();
  const started = new Map<string, number>();
  return {
    update(phase, done, total) {
      if (!started.has(phase)) {
        started.set(phase, Date.now());
        bars.set(phase, multi?.create(total, 0, { phase: phase.padEnd(9) }));
      }
      bars.get(phase)?.update(done, { phase: phase.padEnd(9) });
      if (!tty && done === total) log.info(`${phase} done`, { phase, total, seconds: (Date.now() - (started.get(phase) ?? Date.now())) / 1000 });
    },
    stop() {
      multi?.stop();
    },
  };
}
