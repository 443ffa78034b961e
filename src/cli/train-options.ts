/**
 * `loratune train`'s flags, registered from the option table (src/api/train-options.ts), and their resolution:
 * flag > --config file > the run's own config.yaml (with --resume) > default. With --resume, only the settings
 * marked resumable (more steps or epochs, eval/save cadence, checkpointing, progress) may differ from the run's;
 * anything else that differs is refused with the setting's name and both values.
 */
import { existsSync } from "node:fs";
import { join, resolve } from "node:path";
import { type Command, Option } from "commander";
import { applyInitAdapter } from "../api/init-adapter.ts";
import {
  missingRequired,
  type OptionValues,
  readConfigFile,
  validateOptions,
  withDefaults,
} from "../api/run-config.ts";
import { camelKey, type OptionDef, TRAIN_OPTIONS } from "../api/train-options.ts";
import { LoratuneError } from "../errors.ts";
import { canonicalPath } from "../io/output-guard.ts";
import { resolveModelDir } from "../model/load.ts";
import { runDirOf } from "../train/checkpoint.ts";
import { missingOptionsError } from "./options.ts";

/** Help text of one option: its help, then "(required)" or "(default: X)". */
export function optionHelp(d: OptionDef): string {
  if (d.required) return `${d.help} (required)`;
  if (d.default === undefined || d.kind === "bool") return d.help;
  return `${d.help} (default: ${d.default})`;
}

/** Registers every option on the command (defaults are applied later, so the source of each value is known). */
export function addTrainOptions(cmd: Command): Command {
  for (const d of TRAIN_OPTIONS) {
    const meta = d.metavar ?? (d.kind === "int" || d.kind === "number" ? "n" : d.kind === "choice" ? "name" : "value");
    const flag = d.kind === "bool" ? (d.negate ? `--no-${d.key}` : `--${d.key}`) : `--${d.key} <${meta}>`;
    const opt = new Option(flag, optionHelp(d));
    if (d.choices) opt.choices(d.choices);
    cmd.addOption(opt);
  }
  return cmd;
}

/** The values set on the command line, by option key. */
function cliValues(cmd: Command): OptionValues {
  const flags = cmd.opts() as Record<string, string | boolean | undefined>;
  const out: OptionValues = {};
  for (const d of TRAIN_OPTIONS) {
    if (cmd.getOptionValueSource(camelKey(d.key)) === "cli" && flags[camelKey(d.key)] !== undefined)
      out[d.key] = flags[camelKey(d.key)];
  }
  return out;
}

/** Resolves and validates the options; returns values keyed by option key. */
export function resolveTrainOptions(cmd: Command): OptionValues {
  const fromCli = cliValues(cmd);
  const configPath = fromCli.config as string | undefined;
  const fromFile = configPath ? validateOptions(readConfigFile(configPath), configPath) : {};
  let given: OptionValues = { ...fromFile, ...validateOptions(fromCli) };
  const explicit = new Set(Object.keys(given));
  let fromRun: OptionValues = {};
  if (typeof given.resume === "string") {
    const runDir = runDirOf(given.resume);
    fromRun = readRunSettings(runDir);
    checkResumeChanges(given, fromRun, runDir);
    given = { ...given, out: given.out ?? runDir };
  }
  let values = withDefaults({ ...fromRun, ...given });
  const missing = missingRequired(values);
  if (missing.length > 0) throw missingOptionsError("train", missing, "on the command line or in --config");
  if (typeof values["init-adapter"] === "string" && !given.resume)
    values = applyInitAdapter(values["init-adapter"], values, explicit);
  return values;
}

/** The run's own settings (config.yaml); a run directory written before config.yaml existed gives none. */
function readRunSettings(runDir: string): OptionValues {
  if (!existsSync(runDir)) throw new LoratuneError("ERR_USAGE", `--resume ${runDir}: no such run directory`);
  const path = join(runDir, "config.yaml");
  return existsSync(path) ? validateOptions(readConfigFile(path), path) : {};
}

/** A comparable form of a value: paths canonical, numbers as numbers. */
function comparable(d: OptionDef, v: unknown): string {
  if (v === undefined) return "";
  if (d.path && typeof v === "string")
    return v
      .split(",")
      .map((p) => canonicalPath(d.key === "model" ? resolveModelDir(p.trim()) : resolve(p.trim())))
      .join(",");
  return String(v);
}

/** Refuses, in one message, every setting given with --resume that differs from the run's and may not. */
function checkResumeChanges(given: OptionValues, fromRun: OptionValues, runDir: string): void {
  if (Object.keys(fromRun).length === 0) return; // an older run: the checkpoint's fingerprint still guards it
  const conflicts: string[] = [];
  for (const d of TRAIN_OPTIONS) {
    if (d.control || d.resumable || given[d.key] === undefined) continue;
    const theirs = fromRun[d.key] ?? d.default;
    if (comparable(d, given[d.key]) !== comparable(d, theirs))
      conflicts.push(`--${d.key}: the run used ${theirs ?? "(not set)"}, this command says ${given[d.key]}`);
  }
  if (conflicts.length > 0) {
    throw new LoratuneError(
      "ERR_USAGE",
      `--resume ${runDir} continues the run with its own settings; these differ:\n  ${conflicts.join("\n  ")}\n` +
        "Only --steps, --epochs, --eval-every, --save-every, --keep-checkpoints, --early-stopping, --grad-checkpoint and --json may change; to train with other settings start a new run (--config " +
        `${join(runDir, "config.yaml")} --out NEW_DIR plus your changes).`,
    );
  }
}
