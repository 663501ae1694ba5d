import { CommanderError, InvalidArgumentError } from "commander";
import { describe, expect, it } from "vitest";
import { CliExit, EXIT, exitCodeFor, KIND_EXIT, PROMOTE_EXIT } from "../../cli/exit-codes.ts";
import { ConfigError } from "../../core/config/config.ts";
import { ERROR_KINDS, SightlineError, type ErrorKind } from "../../core/errors.ts";
import { BlobCorruptError } from "../../core/blobs/blob-store.ts";
import { ModelNotFoundError } from "../../core/registry/model-version.ts";

describe("the CLI's exit codes (one table)", () => {
  it("maps each kind once: config 78, unavailable 75, the rest 1 as before", () => {
    const expected: Record<ErrorKind | "internal", number> = {
      invalid: 1,
      not_found: 1,
      conflict: 1,
      corrupt: 1,
      unavailable: 75,
      config: 78,
      internal: 1,
    };
    expect(KIND_EXIT).toEqual(expected);
    for (const kind of Object.keys(ERROR_KINDS) as ErrorKind[])
      expect(exitCodeFor(new SightlineError(kind, "x", "m"))).toBe(expected[kind]);
    expect(exitCodeFor(new ConfigError("SIGHTLINE_META: bad"))).toBe(78);
    expect(exitCodeFor(new ModelNotFoundError("m:1"))).toBe(1);
    expect(exitCodeFor(new BlobCorruptError("sha256:a", "sha256:b", "x"))).toBe(1);
    expect(exitCodeFor(new Error("a bug"))).toBe(1);
  });

  it("gives usage errors 64 and help 0", () => {
    expect(exitCodeFor(new CommanderError(1, "commander.unknownOption", "error: unknown option '--bogus'"))).toBe(
      EXIT.usage,
    );
    expect(exitCodeFor(new InvalidArgumentError("not a positive integer"))).toBe(64);
    expect(exitCodeFor(new CommanderError(0, "commander.helpDisplayed", "(outputHelp)"))).toBe(0);
  });

  it("lets a command choose its code, and gives the choice a true kind", () => {
    expect(exitCodeFor(new CliExit("give --request or --run, not both", EXIT.usage))).toBe(64);
    expect(new CliExit("x", EXIT.usage)).toMatchObject({ kind: "invalid", code: "usage" });
    expect(new CliExit("x", EXIT.config)).toMatchObject({ kind: "config" });
    expect(exitCodeFor(new CliExit("rollback cancelled", PROMOTE_EXIT.rejected))).toBe(4);
  });

  it("keeps policy outcomes apart from every failure code", () => {
    expect(PROMOTE_EXIT).toEqual({
      promoted: 0,
      blocked: 2,
      pending_approval: 3,
      rejected: 4,
      conflict: 5,
      deciding: 6,
    });
    const failures = new Set<number>([...Object.values(KIND_EXIT), EXIT.usage]);
    for (const code of Object.values(PROMOTE_EXIT).filter((c) => c !== 0)) expect(failures.has(code)).toBe(false);
  });
});
