/**
 * `loratune train`'s flags, registered from the option table (src/api/train-options.ts), and their resolution:
 * flag > --config file > the run's own config.yaml (with --resume) > default. With --resume, only the settings
 * marked resumable (more steps or epochs, eval/save cadence, checkpointing, progress) may differ from the run's;
 * anything else that differs is refused with the setting's name and both values.
 */
import { existsSync } from "node:fs";
import { join, resolve } from "node:path";
import type { Command } from "commander";
import { applyInitAdapter } from "../api/init-adapter.ts";
import {
  missingOptionsError,
  missingRequired,
  type OptionDef,
  type OptionValues,
  validateOptions,
  withDefaults,
} from "../api/options.ts";
import { readConfigFile } from "../api/run-config.ts";
import { TRAIN_OPTIONS } from "../api/train-options.ts";
import { LoratuneError } from "../errors.ts";
import { canonicalPath } from "../io/output-guard.ts";
import { resolveModelDir } from "../model/load.ts";
import { runDirOf } from "../train/checkpoint.ts";
import { addOptions, givenValues } from "./options.ts";

/** Registers every option; values are checked and defaulted later, once the config files are read. */
export function addTrainOptions(cmd: Command): Command {
  return addOptions(cmd, TRAIN_OPTIONS, { deferred: true });
}

/** Resolves and validates the options; returns values keyed by option key. */
export function resolveTrainOptions(cmd: Command): OptionValues {
  const fromCli = givenValues(cmd, TRAIN_OPTIONS);
  const configPath = fromCli.config as string | undefined;
  const fromFile = configPath ? validateOptions(TRAIN_OPTIONS, readConfigFile(configPath), configPath) : {};
  let given: OptionValues = { ...fromFile, ...validateOptions(TRAIN_OPTIONS, fromCli) };
  const explicit = new Set(Object.keys(given));
  let fromRun: OptionValues = {};
  if (typeof given.resume === "string") {
    const runDir = runDirOf(given.resume);
    fromRun = readRunSettings(runDir);
    checkResumeChanges(given, fromRun, runDir);
    given = { ...given, out: given.out ?? runDir };
  }
  let values = withDefaults(TRAIN_OPTIONS, { ...fromRun, ...given });
  const missing = missingRequired(TRAIN_OPTIONS, values);
  if (missing.length > 0) throw missingOptionsError("train", missing, "on the command line or in --config");
  if (typeof values["init-adapter"] === "string" && !given.resume)
    values = applyInitAdapter(values["init-adapter"], values, explicit);
  return values;
}

/** The run's own settings (config.yaml); a run directory written before config.yaml existed gives none. */
function readRunSettings(runDir: string): OptionValues {
  if (!existsSync(runDir)) throw new LoratuneError("ERR_USAGE", `--resume ${runDir}: no such run directory`);
  const path = join(runDir, "config.yaml");
  return existsSync(path) ? validateOptions(TRAIN_OPTIONS, readConfigFile(path), path) : {};
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
