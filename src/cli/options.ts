/**
 * Flags from option tables (src/api/options.ts), in one help style for every command:
 *
 * - Defaults read "(default: X)": strings unquoted, lists comma-separated; boolean flags show none. Defaults
 *   are not handed to commander: a command's action receives only the flags given, and the library (or, for
 *   bench and demo, the command) fills the rest from the same table.
 * - Required options read "(required)". commander's `requiredOption` stops at the first missing one;
 *   `checkRequiredOptions` (run before every action by main.ts) reports every missing one in one usage error.
 *   train resolves values from --config and --resume too, so it checks them itself (`deferred`).
 * - Choices read "(one of: a, b)" unless the help text names them already.
 * - Each value is parsed as it is read, with an error naming the flag and the range, e.g.
 *   `--top-p: expected a number in (0, 1], got "1.5"` (train, `deferred`, checks its values after merging
 *   them with its config files, in the table's other wording: `--lr: must be greater than 0 (got "0")`).
 */
import { type Command, Option } from "commander";
import {
  flagSpelling,
  missingOptionsError,
  missingRequired,
  type OptionDef,
  type OptionValue,
  type OptionValues,
  optionHelp,
  rangeOf,
} from "../api/options.ts";
import { parseChoice, parseIdList, parseIntegerIn, parseNumberIn } from "./parse.ts";

export { formatDefault, missingOptionsError, optionHelp } from "../api/options.ts";

/** The tables registered on each command, and whether their required options are checked before the action. */
const TABLES = new WeakMap<Command, { defs: readonly OptionDef[]; checkRequired: boolean }>();

/** The parser of one flag's text, from its kind and bounds (strings are taken as they are). */
function flagParser(d: OptionDef): ((text: string) => OptionValue) | undefined {
  const flag = `--${d.key}`;
  if (d.parse) return d.parse;
  switch (d.kind) {
    case "int":
      return parseIntegerIn(flag, rangeOf(d));
    case "number":
      return parseNumberIn(flag, rangeOf(d));
    case "choice":
      return parseChoice(flag, d.choices ?? []);
    case "ints":
      return parseIdList(flag, d.item, d.min);
    default:
      return undefined;
  }
}

/**
 * Registers every option of the table on the command, in table order. `deferred`: values are kept as typed
 * (the command validates them later, with its config files) and required options are not checked before
 * the action.
 */
export function addOptions(cmd: Command, defs: readonly OptionDef[], o: { deferred?: boolean } = {}): Command {
  for (const d of defs) {
    const opt = new Option(flagSpelling(d), optionHelp(d));
    const parse = o.deferred ? undefined : flagParser(d);
    if (parse) opt.argParser(parse);
    cmd.addOption(opt);
  }
  TABLES.set(cmd, { defs, checkRequired: !o.deferred });
  return cmd;
}

/** The values given on the command line, by option key (not defaults: commander has none). */
export function givenValues(cmd: Command, defs: readonly OptionDef[]): OptionValues {
  const flags = cmd.opts() as Record<string, OptionValue | undefined>;
  const out: OptionValues = {};
  for (const d of defs) {
    const name = new Option(flagSpelling(d)).attributeName();
    if (cmd.getOptionValueSource(name) === "cli" && flags[name] !== undefined) out[d.key] = flags[name];
  }
  return out;
}

/** Throws one usage error naming every required option of `cmd` that was not given. */
export function checkRequiredOptions(cmd: Command): void {
  const table = TABLES.get(cmd);
  if (!table?.checkRequired) return;
  const missing = missingRequired(table.defs, givenValues(cmd, table.defs));
  if (missing.length > 0) throw missingOptionsError(cmd.name(), missing);
}
