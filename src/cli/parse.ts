/** Strict parsers for command-line values; errors are usage errors (exit 2) naming the flag. */
import { LoratuneError } from "../errors.ts";

export function parseNumber(flag: string, min = Number.NEGATIVE_INFINITY) {
  return (value: string): number => {
    const n = Number(value);
    if (value.trim() === "" || !Number.isFinite(n) || n < min) {
      throw new LoratuneError(
        "ERR_USAGE",
        `${flag}: expected a number${min > Number.NEGATIVE_INFINITY ? ` ≥ ${min}` : ""}, got "${value}"`,
      );
    }
    return n;
  };
}

/**
 * A number in an interval; `lo`/`hi` bound it, `loOpen`/`hiOpen` exclude the bound. The message shows the
 * interval in the usual notation, e.g. `--top-p: expected a number in (0, 1], got "1.5"`.
 */
export function parseNumberIn(flag: string, range: { lo?: number; hi?: number; loOpen?: boolean; hiOpen?: boolean }) {
  const lo = range.lo ?? Number.NEGATIVE_INFINITY;
  const hi = range.hi ?? Number.POSITIVE_INFINITY;
  const want =
    hi === Number.POSITIVE_INFINITY
      ? `a number ${range.loOpen ? ">" : "≥"} ${lo}`
      : `a number in ${range.loOpen ? "(" : "["}${lo}, ${hi}${range.hiOpen ? ")" : "]"}`;
  return (value: string): number => {
    const n = Number(value);
    const ok =
      value.trim() !== "" &&
      Number.isFinite(n) &&
      (range.loOpen ? n > lo : n >= lo) &&
      (range.hiOpen ? n < hi : n <= hi);
    if (!ok) throw new LoratuneError("ERR_USAGE", `${flag}: expected ${want}, got "${value}"`);
    return n;
  };
}

export function parseInteger(flag: string, min = 0) {
  return (value: string): number => {
    const n = Number(value);
    if (value.trim() === "" || !Number.isSafeInteger(n) || n < min) {
      throw new LoratuneError("ERR_USAGE", `${flag}: expected an integer ≥ ${min}, got "${value}"`);
    }
    return n;
  };
}

/** A comma-separated list of non-negative integers; `what` names one item in errors ("token id", "rank"). */
export function parseIdList(flag: string, what = "token id", min = 0) {
  return (value: string): number[] =>
    value.split(",").map((s) => {
      const n = Number(s.trim());
      if (s.trim() === "" || !Number.isSafeInteger(n) || n < min)
        throw new LoratuneError("ERR_USAGE", `${flag}: "${s}" is not a ${what}${min > 0 ? ` (at least ${min})` : ""}`);
      return n;
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
