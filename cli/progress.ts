import cliProgress from "cli-progress";
import { closeSync, mkdirSync, openSync, writeSync } from "node:fs";
import { dirname } from "node:path";
import type { Logger } from "../core/telemetry/logger.ts";
import type { ContractHooks } from "../trainer/contract/run.ts";
import type { TrainingHooks } from "../trainer/run.ts";
import type { EpochStats } from "../trainer/train.ts";
import { CI } from "../core/config/settings/platform.ts";

/**
 * One progress bar per phase on a terminal (phases may run at the same time); elsewhere one structured log line
 * when each phase ends.
 */
export function phaseProgress(log: Logger): {
  update: (phase: string, done: number, total: number) => void;
  stop: () => void;
} {
  const tty = barsOnTerminal();
  const multi = tty
    ? new cliProgress.MultiBar(
        {
          format: "{phase} {bar} {value}/{total} {percentage}% | ETA {eta_formatted}",
          stream: process.stderr,
          hideCursor: true,
          clearOnComplete: false,
        },
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
      if (!tty && done === total)
        log.info(`${phase} done`, { phase, total, seconds: (Date.now() - (started.get(phase) ?? Date.now())) / 1000 });
    },
    stop() {
      multi?.stop();
    },
  };
}

export interface TrainingProgressOptions {
  /** Where the structured lines go (appended); without it they go to stderr, as a job's would. */
  logFile?: string;
  /** Also write the structured lines to stderr when they go to `logFile`. */
  verbose?: boolean;
  /** Off a terminal, each finished epoch, for a line a person reads in place of the bar. */
  onEpoch?: (e: EpochStats) => void;
}

/**
 * A bar with loss, accuracy, img/s and ETA on a terminal; otherwise one JSON log line per phase and epoch, kept in
 * `logFile` when one is given so that a person reading the command's output sees only its human lines.
 */
export function trainingProgress(options: TrainingProgressOptions = {}): {
  hooks: TrainingHooks;
  contractHooks: ContractHooks;
  stop: () => void;
} {
  const tty = barsOnTerminal();
  let bar: cliProgress.SingleBar | undefined;
  let file: number | undefined;
  const stopBar = (): void => {
    bar?.stop();
    bar = undefined;
  };
  const stop = (): void => {
    stopBar();
    if (file !== undefined) closeSync(file);
    file = undefined;
  };
  const info = (message: string, fields: Record<string, unknown>): void => {
    if (tty) return;
    const line = `${JSON.stringify({ severity: "INFO", message, time: new Date().toISOString(), component: "train", ...fields })}\n`;
    if (options.logFile) {
      if (file === undefined) {
        mkdirSync(dirname(options.logFile), { recursive: true });
        file = openSync(options.logFile, "a");
      }
      writeSync(file, line);
    }
    if (!options.logFile || options.verbose) process.stderr.write(line);
  };
  return {
    stop,
    // A contract trainer's own metric lines, as it writes them to metrics.jsonl.
    contractHooks: {
      onPhase: (phase, detail) => {
        if (tty) process.stderr.write(`${phase}…\n`);
        info(`phase ${phase}`, { phase, ...detail });
      },
      onMetrics: (line) => {
        if (tty)
          process.stderr.write(
            `${Object.entries(line)
              .map(([k, v]) => `${k} ${Number.isInteger(v) ? v : v.toFixed(4)}`)
              .join("  ")}\n`,
          );
        info("trainer metrics", line);
      },
    },
    hooks: {
      onPhase: (phase, detail) => {
        stopBar();
        if (tty) process.stderr.write(`${phase}…\n`);
        info(`phase ${phase}`, { phase, ...detail });
      },
      onBatch: (p) => {
        if (!tty) return;
        if (!bar) {
          bar = new cliProgress.SingleBar(
            {
              format:
                "epoch {epoch}/{epochs} {bar} {value}/{total} | loss {loss} acc {acc} | {ips} img/s | ETA {eta_formatted}",
              stream: process.stderr,
              hideCursor: true,
            },
            cliProgress.Presets.shades_classic,
          );
          bar.start(p.batches, 0);
        }
        if (p.batch === 1) bar.setTotal(p.batches);
        bar.update(p.batch, {
          epoch: p.epoch,
          epochs: p.epochs,
          loss: p.loss.toFixed(4),
          acc: p.accuracy.toFixed(4),
          ips: p.imagesPerSecond.toFixed(0),
        });
      },
      onEpoch: (e) => {
        if (tty) {
          stopBar();
          process.stderr.write(
            `epoch ${e.epoch}: loss ${e.loss.toFixed(4)} acc ${e.accuracy.toFixed(4)} val_acc ${e.valAccuracy?.toFixed(4) ?? "—"} (${e.imagesPerSecond.toFixed(0)} img/s)\n`,
          );
        }
        if (!tty) options.onEpoch?.(e);
        info("epoch done", { ...e });
      },
    },
  };
}

/** Bars only on a person's terminal: CI logs and pipes get structured lines instead. */
function barsOnTerminal(): boolean {
  return process.stderr.isTTY === true && CI.read(process.env) !== "true";
}
