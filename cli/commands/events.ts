import type { Command } from "commander";
import type { DeadLetterSelector, StoredDeadLetter } from "../../core/events/event-bus.ts";
import { withRuntime, type CliContext } from "../context.ts";
import { EXIT } from "../exit-codes.ts";
import { positiveInt } from "../options.ts";

type SelectOptions = { event?: string[]; subscription?: string; limit?: number; json?: boolean };

function selector(opts: SelectOptions): DeadLetterSelector {
  return {
    ...(opts.event?.length ? { eventIds: opts.event } : {}),
    ...(opts.subscription === undefined ? {} : { subscription: opts.subscription }),
    ...(opts.limit === undefined ? {} : { limit: opts.limit }),
  };
}

const collect = (value: string, previous: string[] = []): string[] => [...previous, value];

function line(l: StoredDeadLetter): string {
  const reason = l.reason.length > 120 ? `${l.reason.slice(0, 117)}...` : l.reason;
  return `${l.id}  ${l.time}  ${l.subscription}  ${l.eventType ?? "?"}  ${l.eventId ?? "?"}  attempts ${l.attempts}  ${reason}`;
}

/** `sightline events dead-letters list|replay`: what could not be handled, and putting it back once it can be. */
export function registerEvents(program: Command, ctx: CliContext): void {
  const events = program.command("events").description("the event bus (local queue or Pub/Sub)");
  const letters = events
    .command("dead-letters")
    .description("events that failed every delivery attempt (or were invalid), kept until replayed");

  letters
    .command("list")
    .description("list the dead letters kept, oldest first")
    .option("--event <id>", "only this event id (repeatable)", collect)
    .option("--subscription <name>", "only those of this subscription")
    .option("--limit <n>", "at most this many", positiveInt)
    .option("--json", "print JSON")
    .action(async (opts: SelectOptions) => {
      await withRuntime(ctx, async (rt) => {
        const found = await rt.bus.listDeadLetters(selector(opts));
        if (opts.json) return ctx.out(JSON.stringify(found, null, 2));
        if (found.length === 0) return ctx.out("no dead letters");
        ctx.out("id  dead-lettered  subscription  type  event id  attempts  reason");
        for (const l of found) ctx.out(line(l));
        ctx.out(
          `${found.length} dead letter(s); replay with: sightline events dead-letters replay --event ID (or --subscription NAME, or --all)`,
        );
      });
    });

  letters
    .command("replay")
    .description(
      "publish dead letters again, unchanged (same event id; consumers are idempotent on it), and stop keeping them",
    )
    .option("--event <id>", "replay this event id (repeatable)", collect)
    .option("--subscription <name>", "replay those of this subscription")
    .option("--all", "replay every dead letter")
    .option("--limit <n>", "at most this many", positiveInt)
    .option("--json", "print JSON")
    .action(async (opts: SelectOptions & { all?: boolean }) => {
      if (!opts.all && !opts.event?.length && opts.subscription === undefined) {
        ctx.fail("say which dead letters to replay: --event ID, --subscription NAME or --all", EXIT.usage);
      }
      await withRuntime(ctx, async (rt) => {
        const report = await rt.bus.replayDeadLetters(selector(opts));
        if (opts.json) return ctx.out(JSON.stringify(report, null, 2));
        for (const r of report.replayed)
          ctx.out(`replayed ${r.eventType} ${r.eventId} (dead-lettered by ${r.subscription}) to ${r.to}`);
        for (const k of report.kept) ctx.out(`kept ${k.id} (${k.subscription}): ${k.reason}`);
        ctx.out(`${report.replayed.length} replayed, ${report.kept.length} kept`);
      });
    });
}
