/**
 * One help style for every command, and required options checked all at once.
 *
 * - Defaults read "(default: X)": strings unquoted, lists comma-separated. Set them with commander's own
 *   `.option(flags, help, parser, default)` (or put "(default: X)" in the text when the default is applied
 *   later, as train does); `helpConfig` renders them. Boolean flags show no default.
 * - Required options read "(required)": register them with a plain `.option()` and call
 *   `requireOptions(cmd, "--model", "--data")`. commander's `requiredOption` stops at the first missing one;
 *   `checkRequiredOptions` (run before every action by main.ts) reports every missing one in one usage error.
 *   A command that resolves values from elsewhere too (train's --config) calls `missingOptionsError` itself.
 * - Choices read "(one of: a, b)".
 */
import type { Command, HelpConfiguration, Option } from "commander";
import { LoratuneError } from "../errors.ts";

const REQUIRED = new WeakMap<Command, Option[]>();
const REQUIRED_OPTIONS = new WeakSet<Option>();

/** How a default value is shown in help. */
export function formatDefault(value: unknown): string {
  if (Array.isArray(value)) return value.map(String).join(",");
  return String(value);
}

/** Help configuration for the program (inherited by every sub-command). */
export const helpConfig: HelpConfiguration = {
  optionDescription(option: Option): string {
    const extra: string[] = [];
    if (REQUIRED_OPTIONS.has(option)) extra.push("(required)");
    if (option.argChoices) extra.push(`(one of: ${option.argChoices.join(", ")})`);
    const showDefault = option.defaultValue !== undefined && !option.isBoolean() && !option.negate;
    if (showDefault) extra.push(`(default: ${option.defaultValueDescription ?? formatDefault(option.defaultValue)})`);
    return [option.description, ...extra].filter((s) => s !== "").join(" ");
  },
};

/** Marks options of `cmd` (by long flag, e.g. "--model") as required: "(required)" in help, checked before the action. */
export function requireOptions(cmd: Command, ...flags: string[]): Command {
  const list = REQUIRED.get(cmd) ?? [];
  for (const flag of flags) {
    const opt = cmd.options.find((o) => o.long === flag);
    if (!opt) throw new Error(`requireOptions: ${cmd.name()} has no option ${flag}`);
    REQUIRED_OPTIONS.add(opt);
    list.push(opt);
  }
  REQUIRED.set(cmd, list);
  return cmd;
}

/** Throws one usage error naming every required option of `cmd` that was not given. */
export function checkRequiredOptions(cmd: Command): void {
  const values = cmd.opts() as Record<string, unknown>;
  const missing = (REQUIRED.get(cmd) ?? []).filter((o) => values[o.attributeName()] === undefined);
  if (missing.length > 0)
    throw missingOptionsError(
      cmd.name(),
      missing.map((o) => o.flags),
    );
}

/**
 * The usage error for missing required options, e.g. `eval: missing required options --model <dir> and
 * --data <file> (see loratune eval --help)`. `where` says where else they may be given ("on the command line
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
