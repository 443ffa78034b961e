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

export function parseInteger(flag: string, min = 0) {
  return (value: string): number => {
    const n = parseNumber(flag, min)(value);
    if (!Number.isInteger(n)) throw new LoratuneError("ERR_USAGE", `${flag}: expected an integer, got "${value}"`);
    return n;
  };
}

export function parseIdList(flag: string) {
  return (value: string): number[] =>
    value.split(",").map((s) => {
      const n = Number(s.trim());
      if (s.trim() === "" || !Number.isInteger(n) || n < 0)
        throw new LoratuneError("ERR_USAGE", `${flag}: "${s}" is not a token id`);
      return n;
    });
}
