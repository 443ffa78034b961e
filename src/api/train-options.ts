/**
 * Every `train` option in one table: its key (the flag without "--", and the key in a YAML/JSON config file),
 * kind, default, bounds and help. The CLI registers its flags from this table, config files and a run's
 * config.yaml are read and validated against it, and a run's settings are written back with the same keys, so
 * `config.yaml` is always a valid `--config`.
 */

import { STORAGE_DTYPES } from "../tensor/formats/index.ts";
import { ADAMW_DEFAULTS } from "../train/adamw.ts";
import { PREFERENCE_DEFAULTS, TRAIN_METHODS } from "../train/preference-loss.ts";
import { LR_SCHEDULES } from "../train/schedule.ts";
import { TASK_METRICS } from "../train/task-metric.ts";
import { defaultsOf, type OptionDef } from "./options.ts";
import { patternMapProblem } from "./pattern-options.ts";
import { QUANTIZE_OPTION } from "./quantize-option.ts";
import { REVISION_OPTION } from "./revision-option.ts";
import type { TrainOptions } from "./train-types.ts";

export { camelKey, type OptionDef, type OptionKind } from "./options.ts";

/** An --init value: one of PEFT's init_lora_weights (kaiming is its true). */
function initChoice(value: unknown): string | null {
  const v = String(value);
  if (["kaiming", "gaussian", "pissa", "olora"].includes(v) || /^pissa_niter_[1-9]\d*$/.test(v)) return null;
  return `"${v}" is not an initialisation (expected kaiming, gaussian, pissa, pissa_niter_N with N >= 1, or olora)`;
}

/** A --layers value: comma-separated layer indices. */
function layerList(value: unknown): string | null {
  for (const s of String(value).split(",")) {
    if (!/^\s*\d+\s*$/.test(s)) return `"${s}" is not a layer index (expected e.g. 0,1,2)`;
  }
  return null;
}

export const TRAIN_OPTIONS: readonly OptionDef[] = [
  {
    key: "model",
    kind: "string",
    help: "model directory (Hugging Face layout), a GGUF file, ollama:NAME[:TAG] (a model Ollama pulled), org/name (a snapshot in the local Hugging Face cache), or 'demo' for the bundled model",
    metavar: "dir",
    required: true,
    path: true,
  },
  REVISION_OPTION,
  {
    key: "data",
    kind: "string",
    help: "training data: JSONL or Parquet file(s), comma-separated, or a dataset folder in the Hugging Face layout (its train split; its validation split is the --val unless one is given)",
    metavar: "file",
    required: true,
    path: true,
  },
  {
    key: "out",
    kind: "string",
    help: "run directory for the adapter, checkpoints, metrics and report (with --resume: the run's own)",
    metavar: "dir",
    required: true,
    path: true,
    control: true,
  },
  {
    key: "val",
    kind: "string",
    help: "validation data: a JSONL or Parquet file, or a dataset folder (its validation split, else its test split)",
    metavar: "file",
    path: true,
  },
  {
    key: "val-split",
    kind: "number",
    help: "hold out this fraction of the training rows for validation (when no --val)",
    default: 0,
    min: 0,
    below: 1,
  },
  {
    key: "config",
    kind: "string",
    help: "YAML or JSON file with any of these options (flags win); a run's config.yaml is one",
    metavar: "file",
    control: true,
  },
  {
    key: "overwrite",
    kind: "bool",
    help: "replace --out if it is an earlier loratune run (never a directory loratune did not write)",
    default: false,
    control: true,
  },
  {
    key: "resume",
    kind: "string",
    help: "continue a run directory (or one of its checkpoints) with its own settings; add --steps/--epochs to extend it",
    metavar: "dir",
    control: true,
  },
  { key: "full", kind: "bool", help: "full-parameter fine-tuning instead of LoRA (needs --dtype f32)", default: false },
  {
    key: "dtype",
    kind: "choice",
    help: "in-memory dtype of the frozen base weights",
    default: "f32",
    choices: STORAGE_DTYPES,
  },
  QUANTIZE_OPTION,
  { key: "rank", kind: "int", help: "LoRA rank r", default: 8, min: 1 },
  {
    key: "alpha",
    kind: "number",
    help: "LoRA alpha (scale = alpha/r, or alpha/sqrt(r) with --rslora)",
    default: 16,
    above: 0,
  },
  {
    key: "dropout",
    kind: "number",
    help: "LoRA dropout on the adapter input, in [0, 1)",
    default: 0,
    min: 0,
    below: 1,
  },
  {
    key: "targets",
    kind: "string",
    help: "modules to adapt: names (q_proj,v_proj), all-linear, or re:<regex>",
    // Resolved in train() from the model family's defaultTargets (as PEFT picks them by model type).
    defaultText: "the model family's; q_proj,v_proj for Llama-style models",
  },
  { key: "rslora", kind: "bool", help: "rank-stabilised scaling alpha/sqrt(r)", default: false },
  {
    key: "dora",
    kind: "bool",
    help: "DoRA (PEFT's use_dora): LoRA plus a trained magnitude per output row, m * (W + s*B*A) / ||W + s*B*A||",
    default: false,
  },
  {
    key: "init",
    kind: "string",
    help: "LoRA initialisation, PEFT's init_lora_weights: kaiming (A kaiming-uniform, B zero), gaussian, pissa (A and B from the SVD of each weight, which is replaced by the residual in memory), pissa_niter_N (the same from a fast randomized SVD with N iterations), olora (from its QR); pissa and olora adapters are saved converted to a plain LoRA of rank 2r on the original base",
    default: "kaiming",
    metavar: "name",
    check: initChoice,
  },
  {
    key: "layers",
    kind: "string",
    help: "only adapt these layer indices (comma-separated)",
    metavar: "list",
    check: layerList,
  },
  {
    key: "layers-pattern",
    kind: "string",
    help: "with --layers: the module-name part before the layer index, PEFT's layers_pattern (e.g. layers, or h for GPT-2; comma-separated to try several); unset: the model family's blocks",
    metavar: "names",
  },
  {
    key: "rank-pattern",
    kind: "string",
    help: "per-module ranks, PEFT's rank_pattern: KEY=N,... where KEY matches the end of a module name (v_proj=16, layers\\.0\\..*=4)",
    metavar: "map",
    check: (v) => patternMapProblem(v, true),
  },
  {
    key: "alpha-pattern",
    kind: "string",
    help: "per-module alphas, PEFT's alpha_pattern: KEY=N,... as --rank-pattern",
    metavar: "map",
    check: (v) => patternMapProblem(v, false),
  },
  {
    key: "modules-to-save",
    kind: "string",
    help: "modules trained and saved whole beside the adapter, PEFT's modules_to_save (e.g. lm_head,embed_tokens; needs --dtype f32; unties a tied head)",
    metavar: "list",
  },
  {
    key: "add-tokens",
    kind: "string",
    help: "special tokens to add (e.g. '<|im_start|>,<|im_end|>'): the vocabulary grows, only the new rows train (PEFT's trainable_token_indices); the run keeps its tokenizer; needs --dtype f32",
    metavar: "list",
  },
  {
    key: "init-adapter",
    kind: "string",
    help: "start from this PEFT adapter directory (its rank, alpha and targets)",
    metavar: "dir",
    path: true,
  },
  {
    key: "steps",
    kind: "int",
    help: "optimizer steps (0: use --epochs)",
    default: 0,
    min: 0,
    resumable: true,
  },
  {
    key: "epochs",
    kind: "int",
    help: "passes over the training data when --steps is 0",
    default: 1,
    min: 1,
    resumable: true,
  },
  {
    key: "batch-size",
    kind: "int",
    help: "sequences per micro-batch (--method dpo|ipo|orpo: pairs)",
    default: 4,
    min: 1,
  },
  { key: "grad-accum", kind: "int", help: "micro-batches per optimizer step", default: 1, min: 1 },
  {
    key: "seq-len",
    kind: "int",
    help: "maximum tokens per sequence (longer examples are truncated)",
    default: 512,
    min: 2,
  },
  {
    key: "grad-checkpoint",
    kind: "bool",
    help: "activation checkpointing: keep only each layer's input and recompute the layer during backward (less memory, bit-identical results, about 1.5x the time)",
    default: false,
    resumable: true,
  },
  {
    key: "memory-check",
    kind: "bool",
    negate: true,
    help: "train even when the memory estimate exceeds the memory available (by default such a run is refused before the weights load)",
    default: true,
    control: true,
  },
  {
    key: "pack",
    kind: "bool",
    help: "pack several examples per sequence (they never attend to each other)",
    default: false,
  },
  { key: "shuffle", kind: "bool", negate: true, help: "keep rows in file order (no shuffling)", default: true },
  { key: "seed", kind: "int", help: "seed for LoRA init, shuffling and dropout", default: 42, min: 0 },
  { key: "lr", kind: "number", help: "peak learning rate", default: 2e-4, above: 0 },
  {
    key: "lr-schedule",
    kind: "choice",
    help: "learning-rate schedule after warmup",
    default: "constant",
    choices: LR_SCHEDULES,
  },
  { key: "warmup-steps", kind: "int", help: "linear warmup steps", default: 0, min: 0 },
  { key: "weight-decay", kind: "number", help: "AdamW decoupled weight decay", default: 0, min: 0 },
  {
    key: "loraplus-lr-ratio",
    kind: "number",
    help: "LoRA+: lora_B (and DoRA's magnitude) learn at this multiple of --lr, as PEFT's create_loraplus_optimizer; 0 = off",
    default: 0,
    min: 0,
  },
  { key: "max-grad-norm", kind: "number", help: "clip the global gradient norm (0: off)", default: 0, min: 0 },
  {
    key: "eval-every",
    kind: "int",
    help: "evaluate on the validation set every N steps (0: only at the end)",
    default: 0,
    min: 0,
    resumable: true,
  },
  {
    key: "early-stopping",
    kind: "int",
    help: "stop after N evaluations without improvement (0: off)",
    default: 0,
    min: 0,
    resumable: true,
  },
  {
    key: "metric",
    kind: "choice",
    help: "what each evaluation scores besides the validation loss: exact-match adds held-out exact match and token accuracy of greedy completions (prompt/completion and chat data)",
    default: "loss",
    choices: TASK_METRICS,
    resumable: true,
  },
  {
    key: "method",
    kind: "choice",
    help: 'training objective: sft (next-token loss), or preference tuning on {"prompt","chosen","rejected"} rows (chat pairs too): dpo (against the model with its adapter off), ipo, orpo (no reference; odds ratio + chosen NLL)',
    default: "sft",
    choices: TRAIN_METHODS,
  },
  {
    key: "beta",
    kind: "number",
    help: "dpo/ipo: beta, how far the policy may move from the reference",
    default: PREFERENCE_DEFAULTS.beta,
    above: 0,
  },
  {
    key: "label-smoothing",
    kind: "number",
    help: "dpo: cDPO label smoothing, the assumed share of flipped preference labels, in [0, 0.5)",
    default: PREFERENCE_DEFAULTS.labelSmoothing,
    min: 0,
    below: 0.5,
  },
  {
    key: "orpo-lambda",
    kind: "number",
    help: "orpo: weight of the odds-ratio term against the chosen completions' NLL",
    default: PREFERENCE_DEFAULTS.orpoLambda,
    min: 0,
  },
  {
    key: "save-every",
    kind: "int",
    help: "write a checkpoint every N steps (0: only at the end and on interruption)",
    default: 0,
    min: 0,
    resumable: true,
  },
  { key: "keep-checkpoints", kind: "int", help: "checkpoints kept on disk", default: 2, min: 1, resumable: true },
  {
    key: "train-on-prompt",
    kind: "bool",
    help: "also train on prompts / user turns (default: completions and assistant turns only)",
    default: false,
  },
  {
    key: "chat-template",
    kind: "string",
    help: "chat template file to use instead of the tokenizer's (kept in the run as chat_template.jinja)",
    metavar: "file",
    path: true,
  },
  { key: "json", kind: "bool", help: "print progress as JSON lines", default: false, control: true, cliOnly: true },
];

export function trainOption(key: string): OptionDef | undefined {
  return TRAIN_OPTIONS.find((d) => d.key === key);
}

/** Every train option's default, by its library name: what `train()` uses for an option not given. */
export const TRAIN_DEFAULTS: Readonly<Partial<TrainOptions>> = Object.freeze({
  ...defaultsOf<TrainOptions>(TRAIN_OPTIONS),
  beta1: ADAMW_DEFAULTS.beta1,
  beta2: ADAMW_DEFAULTS.beta2,
  adamEps: ADAMW_DEFAULTS.eps,
});
