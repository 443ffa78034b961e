/**
 * Strict parsers for command-line values; errors are usage errors (exit 2) naming the flag and what it takes,
 * e.g. `--top-p: expected a number in (0, 1], got "1.5"`. The ranges come from the option tables
 * (src/api/options.ts: `rangeOf`, `rangeText`, `inRange`), so a bound is written once.
 */
import { inRange, listItemProblem, type Range, rangeText } from "../api/options.ts";
import { LoratuneError } from "../errors.ts";

export function parseNumber(flag: string, min = Number.NEGATIVE_INFINITY) {
  return parseNumberIn(flag, { lo: min });
}

/**
 * A number in an interval; `lo`/`hi` bound it, `loOpen`/`hiOpen` exclude the bound. The message shows the
 * interval in the usual notation, e.g. `--top-p: expected a number in (0, 1], got "1.5"`.
 */
export function parseNumberIn(flag: string, range: Range) {
  return (value: string): number => {
    const n = Number(value);
    if (value.trim() === "" || !Number.isFinite(n) || !inRange(range, n))
      throw new LoratuneError("ERR_USAGE", `${flag}: expected ${rangeText(range)}, got "${value}"`);
    return n;
  };
}

/** An integer in an interval, e.g. `--max-tokens: expected an integer ≥ 1, got "0"`. */
export function parseIntegerIn(flag: string, range: Range) {
  return (value: string): number => {
    const n = Number(value);
    if (value.trim() === "" || !Number.isSafeInteger(n) || !inRange(range, n))
      throw new LoratuneError("ERR_USAGE", `${flag}: expected ${rangeText(range, true)}, got "${value}"`);
    return n;
  };
}

export function parseInteger(flag: string, min = 0) {
  return parseIntegerIn(flag, { lo: min });
}

/** A comma-separated list of non-negative integers; `what` names one item in errors ("token id", "rank"). */
export function parseIdList(flag: string, what = "token id", min = 0) {
  return (value: string): number[] =>
    value.split(",").map((s) => {
      const problem = listItemProblem({ item: what, min }, s);
      if (problem) throw new LoratuneError("ERR_USAGE", `${flag}: ${problem}`);
      return Number(s.trim());
    });
}

/** One of a fixed set of names, e.g. `--dtype: expected f32 or bf16, got "f16"`. */
export function parseChoice<T extends string>(flag: string, choices: readonly T[]) {
  return (value: string): T => {
    if (!(choices as readonly string[]).includes(value)) {
      const list =
        choices.length <= 2 ? choices.join(" or ") : `one of ${choices.slice(0, -1).join(", ")} or ${choices.at(-1)}`;
      throw new LoratuneError("ERR_USAGE", `${flag}: expected ${list}, got "${value}"`);
    }
    return value as T;
  };
}
