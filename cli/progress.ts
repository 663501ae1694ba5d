import cliProgress from "cli-progress";
import type { Logger } from "../core/telemetry/logger.ts";

/** A progress bar per phase on a terminal; elsewhere one structured log line when each phase ends. */
export function phaseProgress(log: Logger): { update: (phase: string, done: number, total: number) => void; stop: () => void } {
  const tty = process.stderr.isTTY === true && process.env.CI !== "true";
  let bar: cliProgress.SingleBar | undefined;
  let current: string | undefined;
  const started = new Map<string, number>();
  return {
    update(phase, done, total) {
      if (phase !== current) {
        bar?.stop();
        current = phase;
        started.set(phase, Date.now());
        if (tty) {
          bar = new cliProgress.SingleBar(
            { format: `${phase.padEnd(9)} {bar} {value}/{total} {percentage}% | ETA {eta_formatted}`, stream: process.stderr, hideCursor: true },
            cliProgress.Presets.shades_classic,
          );
          bar.start(total, 0);
        }
      }
      bar?.update(done);
      if (!tty && done === total) log.info(`${phase} done`, { phase, total, seconds: (Date.now() - (started.get(phase) ?? Date.now())) / 1000 });
    },
    stop() {
      bar?.stop();
      bar = undefined;
    },
  };
}
