import { CommanderError } from "commander";
import { errorKind, SightlineError, type ErrorKind } from "../core/errors.ts";
import type { DecisionOutcome } from "../core/registry/promote.ts";

/**
 * Every exit code `sightline` gives, in one place (README, "Exit codes"). Failures follow sysexits.h where it has a
 * code for them; an outcome a pipeline acts on (a promotion blocked by a rule, pending approval, …) has its own code
 * below 64, so a mistyped flag (64) can never read as a policy decision.
 */
export const EXIT = {
  ok: 0,
  /** The command failed: wrong input or data, nothing found, a conflict, corrupt stored bytes, or a bug. */
  failure: 1,
  /** EX_USAGE: unknown flag or command, a missing or malformed argument, flags that do not go together. */
  usage: 64,
  /** EX_TEMPFAIL: a service (the metadata store, the queue, an OpenLineage server, …) is down or busy: retry later. */
  unavailable: 75,
  /** EX_CONFIG: a wrong setting (environment, config file, policy or trainers file). */
  config: 78,
} as const;

/**
 * Each error kind's exit code. `invalid`, `not_found`, `conflict` and `corrupt` stay 1, as they always were: the
 * tests and scripts that check `exit 1` (`models show --request`, `lineage verify`, `data validate`) keep working,
 * and stderr says which it was.
 */
export const KIND_EXIT: Record<ErrorKind | "internal", number> = {
  invalid: EXIT.failure,
  not_found: EXIT.failure,
  conflict: EXIT.failure,
  corrupt: EXIT.failure,
  unavailable: EXIT.unavailable,
  config: EXIT.config,
  internal: EXIT.failure,
};

/** `sightline promote`'s outcomes (and `rollback`'s, which reuses rejected and conflict): CD reads them. */
export const PROMOTE_EXIT: Record<DecisionOutcome, number> = {
  promoted: 0,
  blocked: 2,
  pending_approval: 3,
  rejected: 4,
  conflict: 5,
  deciding: 6,
};

const EXIT_KIND: Partial<Record<number, ErrorKind>> = { [EXIT.unavailable]: "unavailable", [EXIT.config]: "config" };

/**
 * Ends a command with a message and a chosen exit code (`ctx.fail`), without a stack trace. Its kind follows the
 * code (78 config, 75 unavailable, else invalid), so code that asks an error's kind gets a true answer.
 */
export class CliExit extends SightlineError {
  readonly exitCode: number;
  constructor(message: string, exitCode: number = EXIT.failure) {
    super(EXIT_KIND[exitCode] ?? "invalid", exitCode === EXIT.usage ? "usage" : "cli_exit", message);
    this.exitCode = exitCode;
  }
}

/** The exit code for what a command threw: its own (CliExit), commander's usage errors, else the error's kind. */
export function exitCodeFor(err: unknown): number {
  if (err instanceof CliExit) return err.exitCode;
  // Help and version are not failures (commander's exit code 0).
  if (err instanceof CommanderError) return err.exitCode === 0 ? EXIT.ok : EXIT.usage;
  return KIND_EXIT[errorKind(err)];
}
