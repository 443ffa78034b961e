/**
 * What `loratune export-job` exports: a run's settings (its config.yaml) or a train --config file's, completed from
 * the train defaults, as typed values, with the base model named the way a GPU machine can load it and the chat
 * template the run trained with. Refuses what another engine cannot train the same way (a GGUF or Ollama base,
 * --full, a preference --method).
 */
import { existsSync } from "node:fs";
import { join, resolve } from "node:path";
import { LoratuneError } from "../errors.ts";
import { isHubCacheId } from "../io/hf-cache.ts";
import { OLLAMA_PREFIX } from "../io/ollama-store.ts";
import { DEMO_MODEL_DIR } from "../model/load.ts";
import { defaultTargetModules } from "../model/specs.ts";
import type { JobEngine } from "./job-data.ts";
import { isGgufPath, readBaseConfig } from "./model-source.ts";
import { RUN_CHAT_TEMPLATE } from "./models.ts";
import { type OptionValues, validateOptions, withDefaults } from "./options.ts";
import { readConfigFile } from "./run-config.ts";
import { TRAIN_OPTIONS } from "./train-options.ts";

/** The settings a job keeps (loratune's names; see job-axolotl.ts and job-trl.ts for each engine's). */
export interface JobSettings {
  /** Where the settings came from: the run directory or the config file. */
  source: string;
  /** The base as the engine loads it: a hub id (org/name) or an absolute model directory. */
  model: string;
  /** A hub revision (branch, tag or commit) when the run named one. */
  revision: string | null;
  data: string[];
  val: string | null;
  valSplit: number;
  rank: number;
  alpha: number;
  dropout: number;
  /** "all-linear", module names, or a regex (from re:...). */
  targets: "all-linear" | string[] | { regex: string };
  rslora: boolean;
  dora: boolean;
  init: string;
  layers: number[] | null;
  lr: number;
  schedule: "constant" | "linear" | "cosine";
  warmupSteps: number;
  batchSize: number;
  gradAccum: number;
  seqLen: number;
  steps: number;
  epochs: number;
  pack: boolean;
  shuffle: boolean;
  trainOnPrompt: boolean;
  seed: number;
  evalEvery: number;
  saveEvery: number;
  weightDecay: number;
  maxGradNorm: number;
  gradCheckpoint: boolean;
  dtype: string;
  /** The chat template file the run trained with (the run's chat_template.jinja, or --chat-template), else null. */
  chatTemplate: string | null;
  /** Settings given that neither engine keeps as loratune computes them: flag → what happens instead. */
  quantize: string | null;
  loraplusLrRatio: number;
  earlyStopping: number;
  metric: string | null;
  initAdapter: string | null;
}

/** Reads --run DIR (its config.yaml) or --config FILE; exactly one of them. */
export function readJobSettings(run: string | undefined, config: string | undefined): JobSettings {
  if ((run === undefined) === (config === undefined)) {
    throw new LoratuneError(
      "ERR_USAGE",
      "export-job: give --run DIR (a training run) or --config FILE (train settings)",
    );
  }
  const file = run !== undefined ? join(run, "config.yaml") : config!;
  if (!existsSync(file)) {
    const what =
      run !== undefined
        ? `--run ${run}: no config.yaml (not a loratune run directory)`
        : `--config ${file}: no such file`;
    throw new LoratuneError("ERR_USAGE", what);
  }
  const values = withDefaults(TRAIN_OPTIONS, validateOptions(TRAIN_OPTIONS, readConfigFile(file), file));
  const template = run !== undefined && existsSync(join(run, RUN_CHAT_TEMPLATE)) ? join(run, RUN_CHAT_TEMPLATE) : null;
  return settingsOf(values, run ?? file, template);
}

const str = (v: OptionValues, key: string): string | null => (typeof v[key] === "string" ? (v[key] as string) : null);
const num = (v: OptionValues, key: string): number => Number(v[key] ?? 0);
const bool = (v: OptionValues, key: string): boolean => v[key] === true;

function settingsOf(v: OptionValues, source: string, runTemplate: string | null): JobSettings {
  refuseUnportable(v);
  // Unset (a --config file): the family's default targets, as train fills them in.
  const model = portableModel(str(v, "model")!);
  const targets = str(v, "targets") ?? defaultTargetModules(readBaseConfig(model)).join(",");
  return {
    source,
    model,
    revision: str(v, "revision"),
    data: str(v, "data")!
      .split(",")
      .map((p) => resolve(p.trim())),
    val: str(v, "val") === null ? null : resolve(str(v, "val")!),
    valSplit: num(v, "val-split"),
    rank: num(v, "rank"),
    alpha: num(v, "alpha"),
    dropout: num(v, "dropout"),
    targets:
      targets === "all-linear"
        ? "all-linear"
        : targets.startsWith("re:")
          ? { regex: targets.slice(3) }
          : targets.split(",").map((s) => s.trim()),
    rslora: bool(v, "rslora"),
    dora: bool(v, "dora"),
    init: str(v, "init") ?? "kaiming",
    layers:
      str(v, "layers")
        ?.split(",")
        .map((s) => Number.parseInt(s, 10)) ?? null,
    lr: num(v, "lr"),
    schedule: (str(v, "lr-schedule") ?? "constant") as JobSettings["schedule"],
    warmupSteps: num(v, "warmup-steps"),
    batchSize: num(v, "batch-size"),
    gradAccum: num(v, "grad-accum"),
    seqLen: num(v, "seq-len"),
    steps: num(v, "steps"),
    epochs: num(v, "epochs"),
    pack: bool(v, "pack"),
    shuffle: v.shuffle !== false,
    trainOnPrompt: bool(v, "train-on-prompt"),
    seed: num(v, "seed"),
    evalEvery: num(v, "eval-every"),
    saveEvery: num(v, "save-every"),
    weightDecay: num(v, "weight-decay"),
    maxGradNorm: num(v, "max-grad-norm"),
    gradCheckpoint: bool(v, "grad-checkpoint"),
    dtype: str(v, "dtype") ?? "f32",
    chatTemplate: str(v, "chat-template") ?? runTemplate,
    quantize: str(v, "quantize"),
    loraplusLrRatio: num(v, "loraplus-lr-ratio"),
    earlyStopping: num(v, "early-stopping"),
    metric: str(v, "metric") === "exact-match" ? "exact-match" : null,
    initAdapter: str(v, "init-adapter"),
  };
}

/**
 * Every train option, by what export-job does with it. A new train option must be placed here (a unit test checks
 * that every key is), so that no setting is dropped from a job without a word.
 */
export const JOB_OPTION_USE = {
  /** Mapped to the engine's own setting (see settingsOf, job-axolotl.ts, job-trl.ts). */
  mapped: [
    "model",
    "revision",
    "data",
    "val",
    "val-split",
    "full",
    "dtype",
    "quantize",
    "rank",
    "alpha",
    "dropout",
    "targets",
    "rslora",
    "dora",
    "init",
    "layers",
    "init-adapter",
    "steps",
    "epochs",
    "batch-size",
    "grad-accum",
    "seq-len",
    "grad-checkpoint",
    "pack",
    "shuffle",
    "seed",
    "lr",
    "lr-schedule",
    "warmup-steps",
    "weight-decay",
    "loraplus-lr-ratio",
    "max-grad-norm",
    "eval-every",
    "early-stopping",
    "metric",
    "method",
    "save-every",
    "train-on-prompt",
    "chat-template",
  ],
  /** How loratune runs, not what it trains: no meaning for another engine's job. */
  local: ["out", "config", "overwrite", "resume", "memory-check", "keep-checkpoints", "json"],
  /** Only read with a preference --method, which is refused. */
  preference: ["beta", "label-smoothing", "orpo-lambda"],
  /** Not carried into a job yet: a run that sets one is refused, naming it, rather than exported without it. */
  notCarried: ["layers-pattern", "rank-pattern", "alpha-pattern", "modules-to-save", "add-tokens"],
} as const;

/** What neither engine trains as loratune does: refused, with the reason. */
function refuseUnportable(v: OptionValues): void {
  for (const key of JOB_OPTION_USE.notCarried) {
    if (v[key] !== undefined && v[key] !== null && v[key] !== "") {
      throw new LoratuneError(
        "ERR_USAGE",
        `export-job does not carry --${key} into an axolotl or TRL job yet; this run sets it, and a job without ` +
          "it would train something else",
      );
    }
  }
  if (bool(v, "full")) {
    throw new LoratuneError("ERR_USAGE", "export-job exports LoRA runs; this run is --full (full fine-tuning)");
  }
  const method = str(v, "method");
  if (method !== null && method !== "sft") {
    throw new LoratuneError("ERR_USAGE", `export-job exports supervised (sft) runs; this run is --method ${method}`);
  }
}

/**
 * --layers with targets PEFT receives as one string: PEFT's LoraConfig raises ("layers_to_transform cannot be used
 * when target_modules is a str"). A regex (re:...) reaches PEFT as a string from both engines; all-linear does from
 * TRL (axolotl's lora_target_linear expands to a list of module names first).
 */
export function refuseLayersWithStringTargets(s: JobSettings, engine: JobEngine): void {
  if (s.layers === null || Array.isArray(s.targets)) return;
  if (s.targets === "all-linear" && engine === "axolotl") return;
  const targets = s.targets === "all-linear" ? "all-linear" : `re:${s.targets.regex}`;
  throw new LoratuneError(
    "ERR_USAGE",
    `export-job --engine ${engine}: this run sets --layers with --targets ${targets}, which reaches PEFT's ` +
      "LoraConfig as one string, and PEFT refuses layers_to_transform with a string target_modules; export a run " +
      "that names the modules (--targets q_proj,v_proj,...)" +
      (s.targets === "all-linear" ? ", or export with --engine axolotl" : ""),
  );
}

/** The base as a GPU machine loads it: a hub id as is, "demo" and paths as absolute directories; no GGUF. */
function portableModel(model: string): string {
  if (model === "demo") return DEMO_MODEL_DIR;
  if (isHubCacheId(model)) return model;
  if (model.startsWith(OLLAMA_PREFIX) || isGgufPath(model)) {
    throw new LoratuneError(
      "ERR_USAGE",
      `export-job: --model ${model} is a GGUF base, which axolotl and TRL do not train; export the job with the ` +
        "model's Hugging Face directory or hub id (org/name)",
    );
  }
  return resolve(model);
}
