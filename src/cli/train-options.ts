/**
 * Every `loratune train` option in one table: it registers the command-line flags (with defaults in the help),
 * validates values (zod), and reads a YAML/JSON --config file with the same keys (kebab-case or snake_case).
 * Precedence: flag > config file > default. Unknown config keys are errors with a suggestion.
 */
import { readFileSync } from "node:fs";
import { type Command, Option } from "commander";
import { parse as parseYaml } from "yaml";
import { z } from "zod";
import { LoratuneError } from "../errors.ts";
import { LR_SCHEDULES } from "../train/schedule.ts";

type Kind = "int" | "number" | "string" | "bool" | "choice";

interface OptionDef {
  key: string;
  kind: Kind;
  help: string;
  default?: string | number | boolean;
  choices?: readonly string[];
  min?: number;
  /** Flag spelling when it differs from --key (e.g. --no-shuffle). */
  negate?: boolean;
  metavar?: string;
}

export const TRAIN_OPTIONS: OptionDef[] = [
  {
    key: "model",
    kind: "string",
    help: "model directory (Hugging Face layout), or 'demo' for the bundled model",
    metavar: "dir",
  },
  { key: "data", kind: "string", help: "training data: JSONL file(s), comma-separated", metavar: "file" },
  {
    key: "out",
    kind: "string",
    help: "run directory for the adapter, checkpoints, metrics and report",
    metavar: "dir",
  },
  { key: "val", kind: "string", help: "validation JSONL file", metavar: "file" },
  {
    key: "val-split",
    kind: "number",
    help: "hold out this fraction of the training rows for validation (when no --val)",
    default: 0,
    min: 0,
  },
  { key: "config", kind: "string", help: "YAML or JSON file with any of these options (flags win)", metavar: "file" },
  { key: "overwrite", kind: "bool", help: "replace a non-empty --out directory", default: false },
  { key: "full", kind: "bool", help: "full-parameter fine-tuning instead of LoRA (needs --dtype f32)", default: false },
  {
    key: "dtype",
    kind: "choice",
    help: "in-memory dtype of the frozen base weights",
    default: "f32",
    choices: ["f32", "bf16"],
  },
  { key: "rank", kind: "int", help: "LoRA rank r", default: 8, min: 1 },
  {
    key: "alpha",
    kind: "number",
    help: "LoRA alpha (scale = alpha/r, or alpha/sqrt(r) with --rslora)",
    default: 16,
    min: 0,
  },
  { key: "dropout", kind: "number", help: "LoRA dropout on the adapter input", default: 0, min: 0 },
  {
    key: "targets",
    kind: "string",
    help: "modules to adapt: names (q_proj,v_proj), all-linear, or re:<regex>",
    default: "q_proj,v_proj",
  },
  { key: "rslora", kind: "bool", help: "rank-stabilised scaling alpha/sqrt(r)", default: false },
  { key: "layers", kind: "string", help: "only adapt these layer indices (comma-separated)", metavar: "list" },
  { key: "init-adapter", kind: "string", help: "start from this PEFT adapter directory", metavar: "dir" },
  {
    key: "resume",
    kind: "string",
    help: "resume from a run directory or checkpoint (exact continuation)",
    metavar: "dir",
  },
  { key: "steps", kind: "int", help: "optimizer steps (0: use --epochs)", default: 0, min: 0 },
  { key: "epochs", kind: "int", help: "passes over the training data when --steps is 0", default: 1, min: 1 },
  { key: "batch-size", kind: "int", help: "sequences per micro-batch", default: 4, min: 1 },
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
    help: "activation checkpointing: keep only each layer's input and recompute the layer during backward (less memory, about one more forward pass of time)",
    default: false,
  },
  {
    key: "pack",
    kind: "bool",
    help: "pack several examples per sequence (they never attend to each other)",
    default: false,
  },
  { key: "shuffle", kind: "bool", negate: true, help: "keep rows in file order (no shuffling)", default: true },
  { key: "seed", kind: "int", help: "seed for LoRA init, shuffling and dropout", default: 42, min: 0 },
  { key: "lr", kind: "number", help: "peak learning rate", default: 2e-4, min: 0 },
  {
    key: "lr-schedule",
    kind: "choice",
    help: "learning-rate schedule after warmup",
    default: "constant",
    choices: LR_SCHEDULES,
  },
  { key: "warmup-steps", kind: "int", help: "linear warmup steps", default: 0, min: 0 },
  { key: "weight-decay", kind: "number", help: "AdamW decoupled weight decay", default: 0, min: 0 },
  { key: "max-grad-norm", kind: "number", help: "clip the global gradient norm (0: off)", default: 0, min: 0 },
  {
    key: "eval-every",
    kind: "int",
    help: "evaluate on the validation set every N steps (0: only at the end)",
    default: 0,
    min: 0,
  },
  {
    key: "early-stopping",
    kind: "int",
    help: "stop after N evaluations without improvement (0: off)",
    default: 0,
    min: 0,
  },
  {
    key: "save-every",
    kind: "int",
    help: "write a checkpoint every N steps (0: only on interruption)",
    default: 0,
    min: 0,
  },
  { key: "keep-checkpoints", kind: "int", help: "checkpoints kept on disk", default: 2, min: 1 },
  {
    key: "train-on-prompt",
    kind: "bool",
    help: "also train on prompts / user turns (default: completions and assistant turns only)",
    default: false,
  },
  {
    key: "chat-template",
    kind: "string",
    help: "chat template file to use instead of the tokenizer's",
    metavar: "file",
  },
  { key: "json", kind: "bool", help: "print progress as JSON lines", default: false },
];

export type TrainOptionValues = Record<string, string | number | boolean | undefined>;

/** Registers every option on the command (defaults are applied later, so the source of a value is known). */
export function addTrainOptions(cmd: Command): Command {
  for (const d of TRAIN_OPTIONS) {
    const meta = d.metavar ?? (d.kind === "int" || d.kind === "number" ? "n" : d.kind === "choice" ? "name" : "value");
    const flag = d.kind === "bool" ? (d.negate ? `--no-${d.key}` : `--${d.key}`) : `--${d.key} <${meta}>`;
    const opt = new Option(
      flag,
      d.help + (d.default !== undefined && d.kind !== "bool" ? ` (default: ${d.default})` : ""),
    );
    if (d.choices) opt.choices(d.choices);
    cmd.addOption(opt);
  }
  return cmd;
}

/** Commander's camelCase attribute for a key. */
const attr = (key: string) => key.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());

/** Merges flags > config file > defaults and validates; returns values keyed by option key (kebab-case). */
export function resolveTrainOptions(cmd: Command): TrainOptionValues {
  const flags = cmd.opts() as Record<string, unknown>;
  const fromCli: TrainOptionValues = {};
  for (const d of TRAIN_OPTIONS) {
    const source = cmd.getOptionValueSource(attr(d.key));
    if (source === "cli" && flags[attr(d.key)] !== undefined) fromCli[d.key] = flags[attr(d.key)] as string | boolean;
  }
  const configPath = fromCli.config as string | undefined;
  const fromFile = configPath ? readConfigFile(configPath) : {};
  const merged: TrainOptionValues = {};
  for (const d of TRAIN_OPTIONS) merged[d.key] = fromCli[d.key] ?? fromFile[d.key] ?? d.default;
  return validate(merged, configPath);
}

function readConfigFile(path: string): TrainOptionValues {
  let raw: unknown;
  try {
    const text = readFileSync(path, "utf8");
    raw = path.endsWith(".json") ? JSON.parse(text) : parseYaml(text);
  } catch (err) {
    throw new LoratuneError("ERR_USAGE", `${path}: cannot read the config file (${(err as Error).message})`);
  }
  if (raw === null || raw === undefined) return {};
  if (typeof raw !== "object" || Array.isArray(raw))
    throw new LoratuneError("ERR_USAGE", `${path}: expected a mapping of option names to values`);
  const out: TrainOptionValues = {};
  for (const [rawKey, value] of Object.entries(raw as Record<string, unknown>)) {
    const key = rawKey.replace(/_/g, "-");
    const def = TRAIN_OPTIONS.find((d) => d.key === key);
    if (!def || key === "config") {
      const hint = suggest(key);
      throw new LoratuneError(
        "ERR_USAGE",
        `${path}: unknown option "${rawKey}"${hint ? ` (did you mean "${hint}"?)` : ""}`,
      );
    }
    if (Array.isArray(value) && (key === "targets" || key === "layers" || key === "data")) out[key] = value.join(",");
    else out[key] = value as string | number | boolean;
  }
  return out;
}

function validate(values: TrainOptionValues, configPath: string | undefined): TrainOptionValues {
  const out: TrainOptionValues = {};
  for (const d of TRAIN_OPTIONS) {
    const v = values[d.key];
    if (v === undefined) continue;
    const result = schemaFor(d).safeParse(v);
    if (!result.success) {
      const where = configPath ? ` (flag or ${configPath})` : "";
      throw new LoratuneError(
        "ERR_USAGE",
        `--${d.key}${where}: ${result.error.issues[0]?.message ?? "invalid value"} (got ${JSON.stringify(v)})`,
      );
    }
    out[d.key] = result.data as string | number | boolean;
  }
  for (const key of ["model", "data", "out"]) {
    if (out[key] === undefined)
      throw new LoratuneError("ERR_USAGE", `--${key} is required (on the command line or in --config)`);
  }
  return out;
}

function schemaFor(d: OptionDef): z.ZodType {
  const num = z.coerce.number({ message: "expected a number" }).refine(Number.isFinite, "expected a finite number");
  switch (d.kind) {
    case "int":
      return num.pipe(
        z
          .number()
          .int("expected an integer")
          .min(d.min ?? Number.NEGATIVE_INFINITY, `must be at least ${d.min}`),
      );
    case "number":
      return num.pipe(z.number().min(d.min ?? Number.NEGATIVE_INFINITY, `must be at least ${d.min}`));
    case "bool":
      return z.boolean({ message: "expected true or false" });
    case "choice":
      return z.enum(d.choices as [string, ...string[]], { message: `expected one of ${d.choices?.join(", ")}` });
    default:
      return z.string({ message: "expected a string" }).min(1, "must not be empty");
  }
}

function suggest(key: string): string | undefined {
  let best: { key: string; d: number } | undefined;
  for (const d of TRAIN_OPTIONS) {
    const dist = editDistance(key, d.key);
    if (!best || dist < best.d) best = { key: d.key, d: dist };
  }
  return best && best.d <= 3 ? best.key : undefined;
}

function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const cur = row[j]!;
      row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = cur;
    }
  }
  return row[b.length]!;
}
