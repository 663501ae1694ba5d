import { SightlineError } from "../errors.ts";

/*
 * The runs filter, MLflow's search syntax in small: `metrics.accuracy > 0.9 and params.epochs = 3 and
 * tags.trigger = "drift" and status = "succeeded"`. Hand-written on purpose: the grammar is a conjunction of
 * comparisons; expression parsers that are already installed (jsep) parse JavaScript, not `=`/`and`/backtick keys,
 * and a parser generator would add a dependency and a build step for a grammar of four rules.
 *
 *   filter     := comparison ("and" comparison)*
 *   comparison := field op value
 *   field      := ("metrics" | "params" | "tags") "." key | "status" | "model" | "dataset" | "trainer" | "request"
 *   key        := [A-Za-z0-9_./-]+ | `anything but a backtick`
 *   op         := "=" | "!=" | "<" | "<=" | ">" | ">="
 *   value      := number | "string" | 'string'
 */

export const FILTER_OPS = ["=", "!=", "<", "<=", ">", ">="] as const;
export type FilterOp = (typeof FILTER_OPS)[number];
export const RUN_ATTRIBUTES = ["status", "model", "dataset", "trainer", "request"] as const;
export type RunAttribute = (typeof RUN_ATTRIBUTES)[number];

export type FilterField =
  { scope: "metrics" | "params" | "tags"; key: string } | { scope: "attribute"; key: RunAttribute };
export interface Comparison {
  field: FilterField;
  op: FilterOp;
  value: number | string;
}
/** A parsed filter: every comparison must hold. */
export interface RunFilter {
  and: Comparison[];
}

export class FilterError extends SightlineError {
  readonly column: number;
  constructor(message: string, column: number) {
    super("invalid", "invalid_filter", `invalid filter at column ${column}: ${message}`);
    this.column = column;
  }
}

type Token =
  | { t: "word"; text: string; at: number }
  | { t: "key"; text: string; at: number }
  | { t: "op"; text: FilterOp; at: number }
  | { t: "number"; value: number; at: number }
  | { t: "string"; value: string; at: number };

const WORD = /[A-Za-z0-9_./-]/;
const NUMBER = /^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$/;

function tokenize(text: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < text.length) {
    const c = text[i]!;
    const at = i + 1;
    if (/\s/.test(c)) {
      i++;
    } else if (c === '"' || c === "'") {
      let value = "";
      i++;
      while (i < text.length && text[i] !== c) {
        if (text[i] === "\\" && i + 1 < text.length) i++;
        value += text[i];
        i++;
      }
      if (i >= text.length) throw new FilterError(`unterminated string starting with ${c}`, at);
      i++;
      tokens.push({ t: "string", value, at });
    } else if (c === "`") {
      const end = text.indexOf("`", i + 1);
      if (end < 0) throw new FilterError("unterminated `key`", at);
      tokens.push({ t: "key", text: text.slice(i + 1, end), at });
      i = end + 1;
    } else if ("=!<>".includes(c)) {
      const two = text.slice(i, i + 2);
      const op =
        (["!=", "<=", ">="] as const).find((o) => o === two) ?? (["=", "<", ">"] as const).find((o) => o === c);
      if (!op || two === "==")
        throw new FilterError(
          `unknown operator ${JSON.stringify(two === "==" ? two : c)} (use ${FILTER_OPS.join(" ")})`,
          at,
        );
      tokens.push({ t: "op", text: op, at });
      i += op.length;
    } else if (WORD.test(c) || c === "+") {
      let j = i + 1;
      while (j < text.length && (WORD.test(text[j]!) || (/[eE]/.test(text[j - 1]!) && /[+-]/.test(text[j]!)))) j++;
      const word = text.slice(i, j);
      // A word that is a number is a value (`0.9`, `-1`, `1e-3`); `metrics.x` and `status` are words.
      tokens.push(NUMBER.test(word) ? { t: "number", value: Number(word), at } : { t: "word", text: word, at });
      i = j;
    } else {
      throw new FilterError(`unexpected ${JSON.stringify(c)}`, at);
    }
  }
  return tokens;
}

const SCOPES = ["metrics", "params", "tags"] as const;

/** Parses a filter; throws FilterError (kind `invalid`) saying where and what is wrong. An empty filter matches every run. */
export function parseRunFilter(text: string): RunFilter {
  const tokens = tokenize(text);
  const and: Comparison[] = [];
  let i = 0;
  const end = text.length + 1;
  const next = (): Token | undefined => tokens[i++];
  while (i < tokens.length) {
    if (and.length > 0) {
      const joiner = next()!;
      if (joiner.t !== "word" || joiner.text.toLowerCase() !== "and") {
        const or = joiner.t === "word" && joiner.text.toLowerCase() === "or";
        throw new FilterError(
          or
            ? "only `and` joins comparisons (no `or`)"
            : `expected \`and\` after a comparison, found ${describe(joiner)}`,
          joiner.at,
        );
      }
      if (i >= tokens.length) throw new FilterError("a comparison must follow `and`", end);
    }
    const field = parseField(next()!, tokens, () => i++, end);
    const op = next();
    if (!op || op.t !== "op")
      throw new FilterError(
        `expected an operator (${FILTER_OPS.join(" ")}) after the field, found ${op ? describe(op) : "the end"}`,
        op?.at ?? end,
      );
    const value = next();
    if (!value || (value.t !== "number" && value.t !== "string")) {
      throw new FilterError(
        `expected a number or a "quoted string" after ${op.text}, found ${value ? describe(value) : "the end"}`,
        value?.at ?? end,
      );
    }
    if (field.scope === "metrics" && value.t !== "number")
      throw new FilterError(`metrics.${field.key} is a number: compare it with a number`, value.at);
    if ((field.scope === "tags" || field.scope === "attribute") && value.t !== "string") {
      throw new FilterError(
        `${field.scope === "tags" ? `tags.${field.key}` : field.key} is text: quote the value ("${value.value}")`,
        value.at,
      );
    }
    and.push({ field, op: op.text, value: value.t === "number" ? value.value : value.value });
  }
  return { and };
}

/** A sort order: `metrics.test_accuracy desc`, `params.epochs`, `status asc` (ascending unless `desc`). */
export interface RunOrder {
  field: FilterField;
  direction: "asc" | "desc";
}

/** Parses a sort order; throws FilterError (kind `invalid`) on anything else. */
export function parseRunOrder(text: string): RunOrder {
  const tokens = tokenize(text);
  let i = 0;
  const first = tokens[i++];
  if (!first) throw new FilterError("give a field to sort by (e.g. metrics.test_accuracy desc)", 1);
  const field = parseField(first, tokens, () => i++, text.length + 1);
  const dir = tokens[i++];
  const direction = dir === undefined ? "asc" : dir.t === "word" ? dir.text.toLowerCase() : "";
  if (direction !== "asc" && direction !== "desc")
    throw new FilterError(`expected asc or desc after the field, found ${describe(dir!)}`, dir!.at);
  const extra = tokens[i];
  if (extra) throw new FilterError(`unexpected ${describe(extra)} after the sort order`, extra.at);
  return { field, direction };
}

function parseField(token: Token, tokens: Token[], advance: () => void, end: number): FilterField {
  if (token.t !== "word")
    throw new FilterError(
      `expected a field (metrics.KEY, params.KEY, tags.KEY, ${RUN_ATTRIBUTES.join(", ")}), found ${describe(token)}`,
      token.at,
    );
  const dot = token.text.indexOf(".");
  const head = dot < 0 ? token.text : token.text.slice(0, dot);
  const scope = SCOPES.find((s) => s === head);
  if (!scope) {
    const attribute = RUN_ATTRIBUTES.find((a) => a === token.text);
    if (attribute) return { scope: "attribute", key: attribute };
    throw new FilterError(
      `unknown field ${JSON.stringify(token.text)} (metrics.KEY, params.KEY, tags.KEY, ${RUN_ATTRIBUTES.join(", ")})`,
      token.at,
    );
  }
  let key = dot < 0 ? "" : token.text.slice(dot + 1);
  // metrics.`recall/bag x`: the quoted key follows the dot.
  const quoted = tokens[tokens.indexOf(token) + 1];
  if (key === "" && dot === token.text.length - 1 && quoted?.t === "key") {
    key = quoted.text;
    advance();
  }
  if (key === "")
    throw new FilterError(
      `${scope}. needs a key (e.g. ${scope}.accuracy)`,
      dot < 0 ? token.at + token.text.length : end,
    );
  return { scope, key };
}

function describe(t: Token): string {
  if (t.t === "number") return String(t.value);
  if (t.t === "string") return JSON.stringify(t.value);
  if (t.t === "key") return `\`${t.text}\``;
  return JSON.stringify(t.text);
}

/** What a comparison reads from a run. */
export interface FilterSubject {
  status: string;
  model: string;
  datasetId: string;
  requestId: string;
  trainer: string;
  metrics: Record<string, number>;
  params: Record<string, string | number | boolean | null>;
  tags: Record<string, string>;
}

/**
 * Whether a run matches. A key the run does not have makes its comparison false, whatever the operator (as in SQL
 * and MLflow): `tags.trigger != "drift"` selects runs that have a trigger other than drift.
 */
export function matchesFilter(filter: RunFilter, run: FilterSubject): boolean {
  return filter.and.every((c) => {
    const actual = readField(run, c.field);
    if (actual === undefined || actual === null) return false;
    if (typeof c.value === "number") {
      const n =
        typeof actual === "number"
          ? actual
          : typeof actual === "string" && NUMBER.test(actual.trim())
            ? Number(actual)
            : undefined;
      return n === undefined ? false : compare(n, c.value, c.op);
    }
    return compare(String(actual), c.value, c.op);
  });
}

/** The value a field names in a run (undefined when the run has no such key). */
export function readField(run: FilterSubject, field: FilterField): string | number | boolean | null | undefined {
  switch (field.scope) {
    case "metrics":
      return run.metrics[field.key];
    case "params":
      return run.params[field.key];
    case "tags":
      return run.tags[field.key];
    case "attribute":
      return field.key === "dataset" ? run.datasetId : field.key === "request" ? run.requestId : run[field.key];
  }
}

function compare<T extends number | string>(a: T, b: T, op: FilterOp): boolean {
  switch (op) {
    case "=":
      return a === b;
    case "!=":
      return a !== b;
    case "<":
      return a < b;
    case "<=":
      return a <= b;
    case ">":
      return a > b;
    case ">=":
      return a >= b;
  }
}
