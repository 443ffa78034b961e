/**
 * Option tables: each command's options defined once (key, kind, default, bounds, help), shared by the CLI, the
 * library and, for train, the YAML/JSON config files.
 *
 * - The CLI registers its flags from the table (src/cli/options.ts `addOptions`): help text, "(default: X)",
 *   "(required)", and a parser per flag whose errors read `--top-p: expected a number in (0, 1], got "1.5"`.
 * - The library (`train`, `evaluate`, `generate`, `merge`) takes only what differs from the defaults:
 *   `resolveOptions` checks every given value against the same bounds, fills the rest from the defaults and
 *   names missing required options. Messages are written in flags; a library caller reads them in its own
 *   property names (`alpha: must be greater than 0 (got 0)`, see option-names.ts).
 * - train's config files and a run's config.yaml use the keys of the table (src/api/run-config.ts).
 *
 * A key is the flag without "--" (kebab-case); the library's property is its camelCase (`camelKey`).
 */
import { LoratuneError } from "../errors.ts";

/** ints: a comma-separated list of integers (a number[] in the library), e.g. --prompt-ids 1,2,3. */
export type OptionKind = "int" | "number" | "string" | "bool" | "choice" | "ints";

export type OptionValue = string | number | boolean | number[] | string[];
export type OptionValues = Record<string, OptionValue | undefined>;

export interface OptionDef {
  key: string;
  kind: OptionKind;
  help: string;
  default?: OptionValue;
  /** Shown in help as "(default: …)" when the default is decided later (e.g. "the model's maximum"). */
  defaultText?: string;
  choices?: readonly string[];
  /** Inclusive lower bound, or exclusive with `above`. */
  min?: number;
  above?: number;
  /** Inclusive upper bound, or exclusive with `below`. */
  max?: number;
  below?: number;
  /** ints: what one item is called in errors ("token id", "rank"). */
  item?: string;
  /** Must be given (train: unless --resume supplies it). */
  required?: boolean;
  /** A path (or comma-separated paths): relative values in a config file resolve against the file's folder. */
  path?: boolean;
  /** train: may differ from the run's own value when resuming (does not change what the run computes). */
  resumable?: boolean;
  /** Not a setting of what is computed (how it runs or prints): not written to config.yaml, not compared on resume. */
  control?: boolean;
  /** Only the command line has it (how results are printed, e.g. --json): not an option of the library. */
  cliOnly?: boolean;
  /** Flag spelling --no-KEY (for options on by default). */
  negate?: boolean;
  metavar?: string;
  /** The CLI's parser for values the kinds do not cover (e.g. bench --shapes); throws a usage error. */
  parse?: (text: string) => OptionValue;
  /** A further rule on a value of the right kind: the problem (after "--key: "), or null. */
  check?: (value: OptionValue) => string | null;
}

/** The option's attribute name in the library's options (camelCase of the key). */
export const camelKey = (key: string): string => key.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());

/** How an option is spelled on the command line: "--model <dir>", "--json", "--no-torch". */
export function flagSpelling(d: OptionDef): string {
  if (d.kind === "bool") return d.negate ? `--no-${d.key}` : `--${d.key}`;
  const meta = d.metavar ?? (d.kind === "int" || d.kind === "number" ? "n" : d.kind === "choice" ? "name" : "value");
  return `--${d.key} <${meta}>`;
}

/** How a default value is shown in help. */
export function formatDefault(value: unknown): string {
  if (Array.isArray(value)) return value.map(String).join(",");
  return String(value);
}

/** Help text of one option: its help, then "(required)" or "(default: X)", then "(one of: …)". */
export function optionHelp(d: OptionDef): string {
  const extra: string[] = [];
  if (d.required) extra.push("(required)");
  else if (d.defaultText !== undefined) extra.push(`(default: ${d.defaultText})`);
  else if (d.default !== undefined && d.kind !== "bool") extra.push(`(default: ${formatDefault(d.default)})`);
  if (d.choices && !d.choices.every((c) => d.help.includes(c))) extra.push(`(one of: ${d.choices.join(", ")})`);
  return [d.help, ...extra].join(" ");
}

/** An interval of numbers: `lo`/`hi` bound it (absent: unbounded), `loOpen`/`hiOpen` exclude the bound. */
export interface Range {
  lo?: number;
  hi?: number;
  loOpen?: boolean;
  hiOpen?: boolean;
}

export function rangeOf(d: OptionDef): Range {
  return {
    ...(d.min !== undefined ? { lo: d.min } : d.above !== undefined ? { lo: d.above, loOpen: true } : {}),
    ...(d.max !== undefined ? { hi: d.max } : d.below !== undefined ? { hi: d.below, hiOpen: true } : {}),
  };
}

export function inRange(r: Range, n: number): boolean {
  const lo = r.lo ?? Number.NEGATIVE_INFINITY;
  const hi = r.hi ?? Number.POSITIVE_INFINITY;
  return (r.loOpen ? n > lo : n >= lo) && (r.hiOpen ? n < hi : n <= hi);
}

/** What a value in the range is, in the usual notation: "an integer ≥ 1", "a number > 0", "a number in (0, 1]". */
export function rangeText(r: Range, integer = false): string {
  const what = integer ? "an integer" : "a number";
  const lo = r.lo ?? Number.NEGATIVE_INFINITY;
  const hi = r.hi ?? Number.POSITIVE_INFINITY;
  if (hi === Number.POSITIVE_INFINITY) {
    return lo === Number.NEGATIVE_INFINITY ? what : `${what} ${r.loOpen ? ">" : "≥"} ${lo}`;
  }
  if (lo === Number.NEGATIVE_INFINITY) return `${what} ${r.hiOpen ? "<" : "≤"} ${hi}`;
  return `${what} in ${r.loOpen ? "(" : "["}${lo}, ${hi}${r.hiOpen ? ")" : "]"}`;
}

/** The first bound `n` breaks, in words ("must be at least 2"), or null when it is in range. */
function boundBroken(d: OptionDef, n: number): string | null {
  if (d.min !== undefined && n < d.min) return `must be at least ${d.min}`;
  if (d.above !== undefined && n <= d.above) return `must be greater than ${d.above}`;
  if (d.max !== undefined && n > d.max) return `must be at most ${d.max}`;
  if (d.below !== undefined && n >= d.below) return `must be below ${d.below}`;
  return null;
}

/** The problem with one item of an ints list (`"x" is not a token id`), or null. */
export function listItemProblem(d: Pick<OptionDef, "item" | "min">, text: string): string | null {
  const n = Number(text.trim());
  const min = d.min ?? 0;
  if (text.trim() !== "" && Number.isSafeInteger(n) && n >= min) return null;
  return `"${text}" is not a ${d.item ?? "number"}${min > 0 ? ` (at least ${min})` : ""}`;
}

type Checked = { value: OptionValue } | { problem: string; quote: boolean };

/** A value of any origin (flag text, config file, library call) checked against its option and converted. */
function checkValue(d: OptionDef, v: unknown): Checked {
  const bad = (problem: string, quote = true): Checked => ({ problem, quote });
  switch (d.kind) {
    case "int":
    case "number": {
      const n = typeof v === "number" ? v : typeof v === "string" && v.trim() !== "" ? Number(v) : Number.NaN;
      if (Number.isNaN(n)) return bad("expected a number");
      if (!Number.isFinite(n)) return bad("expected a finite number");
      if (d.kind === "int" && !Number.isSafeInteger(n)) return bad("expected an integer");
      const broken = boundBroken(d, n);
      return broken ? bad(broken) : { value: n };
    }
    case "bool":
      return typeof v === "boolean" ? { value: v } : bad("expected true or false");
    case "choice":
      return typeof v === "string" && d.choices?.includes(v)
        ? { value: v }
        : bad(`expected one of ${d.choices?.join(", ")}`);
    case "ints": {
      const items = Array.isArray(v) ? v.map(String) : typeof v === "string" ? v.split(",") : null;
      if (items === null) return bad(`expected a list of ${d.item ?? "number"}s`);
      for (const s of items) {
        const problem = listItemProblem(d, s);
        if (problem) return bad(problem, false);
      }
      return { value: items.map(Number) };
    }
    default:
      if (typeof v !== "string") return bad("expected a string");
      return v === "" ? bad("must not be empty") : { value: v };
  }
}

/**
 * Checks every present value against its option (kind, bounds, choices, further rules) and returns them
 * converted (numbers from text); `origin` names where the values came from (a config file).
 */
export function validateOptions(defs: readonly OptionDef[], values: OptionValues, origin?: string): OptionValues {
  const where = origin ? ` (${origin})` : "";
  const out: OptionValues = {};
  for (const d of defs) {
    const v = values[d.key];
    if (v === undefined) continue;
    const r = checkValue(d, v);
    if ("problem" in r) {
      throw new LoratuneError(
        "ERR_USAGE",
        `--${d.key}${where}: ${r.problem}${r.quote ? ` (got ${JSON.stringify(v)})` : ""}`,
      );
    }
    out[d.key] = r.value;
  }
  for (const d of defs) {
    const v = out[d.key];
    const problem = v !== undefined && d.check ? d.check(v) : null;
    if (problem) throw new LoratuneError("ERR_USAGE", `--${d.key}${where}: ${problem}`);
  }
  return out;
}

/** Values with every unset option at its default. */
export function withDefaults(defs: readonly OptionDef[], values: OptionValues): OptionValues {
  const out: OptionValues = {};
  for (const d of defs) out[d.key] = values[d.key] ?? d.default;
  return out;
}

/** Required options that have no value, as their flags ("--model <dir>", …). */
export function missingRequired(defs: readonly OptionDef[], values: OptionValues): string[] {
  return defs.filter((d) => d.required && values[d.key] === undefined).map(flagSpelling);
}

/**
 * The usage error for missing required options, e.g. `eval: missing required options --model <dir> and
 * --data <file>; see loratune eval --help`. `where` says where else they may be given ("on the command line
 * or in --config").
 */
export function missingOptionsError(command: string, flags: string[], where?: string): LoratuneError {
  const list =
    flags.length === 1 ? flags[0] : `${flags.slice(0, -1).join(", ")} and ${flags[flags.length - 1] as string}`;
  const noun = flags.length === 1 ? "option" : "options";
  return new LoratuneError(
    "ERR_USAGE",
    `${command}: missing required ${noun} ${list}${where ? ` (${where})` : ""}; see loratune ${command} --help`,
  );
}

/**
 * A library call's options (camelCase), checked against the command's table and completed from its
 * defaults; properties that are not options (callbacks, a loaded model) pass through unchanged.
 */
export function resolveOptions<T>(command: string, defs: readonly OptionDef[], given: object): T {
  const rec = given as Record<string, unknown>;
  const values: OptionValues = {};
  for (const d of defs) values[d.key] = rec[camelKey(d.key)] as OptionValue | undefined;
  const resolved = withDefaults(defs, validateOptions(defs, values));
  const missing = defs.filter((d) => d.required && resolved[d.key] === undefined).map((d) => camelKey(d.key));
  if (missing.length > 0) {
    // Only a library call gets here (the CLI checks its required flags before the action): its property names.
    const noun = missing.length === 1 ? "option" : "options";
    throw new LoratuneError("ERR_USAGE", `${command}: missing required ${noun} ${missing.join(", ")}`);
  }
  const out: Record<string, unknown> = { ...rec };
  for (const d of defs) {
    const v = resolved[d.key];
    if (v === undefined) delete out[camelKey(d.key)];
    else out[camelKey(d.key)] = v;
  }
  return out as T;
}

/**
 * The defaults of a command's options under the library's property names (TRAIN_DEFAULTS.seqLen is 512):
 * every option that has a fixed default, none that is decided later or belongs to the command line only.
 */
export function defaultsOf<T>(defs: readonly OptionDef[]): Readonly<Partial<T>> {
  const out: Record<string, OptionValue> = {};
  for (const d of defs) if (d.default !== undefined && !d.cliOnly) out[camelKey(d.key)] = d.default;
  return Object.freeze(out) as Partial<T>;
}
