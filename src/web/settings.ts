/**
 * The browser page's training settings: the demo's (src/demo/run-demo.ts: LoRA r=16, alpha 32 on all linear
 * layers, lr 1e-3 with a cosine schedule and 10 warmup steps, gradient clipping at 1, batches of 8 rows of at most
 * 128 tokens, seed 7) with fewer steps by default, since a browser GPU may be a small one. Each is a form field and
 * a URL query parameter of the same name (?steps=40&batch-size=2 …), so a link can carry a run's settings; the
 * names are `loratune train`'s flags, and `trainFlags` gives the command that trains the same run on the CPU.
 */
import { LoratuneError } from "../errors.ts";
import { LR_SCHEDULES, type LrSchedule } from "../train/schedule.ts";

export interface WebSettings {
  seed: number;
  steps: number;
  /** Demo task rows to train on, and held-out rows to score (the task's split, src/demo/task.ts). */
  trainSize: number;
  testSize: number;
  rank: number;
  alpha: number;
  /** PEFT target modules: "all-linear" or a comma-separated list of module names (q_proj,v_proj). */
  targets: string;
  lr: number;
  lrSchedule: LrSchedule;
  warmupSteps: number;
  maxGradNorm: number;
  batchSize: number;
  seqLen: number;
  /** Held-out loss every this many steps (0: only at the end). */
  evalEvery: number;
}

export const WEB_DEFAULTS: WebSettings = {
  seed: 7,
  steps: 200,
  trainSize: 4000,
  testSize: 20,
  rank: 16,
  alpha: 32,
  targets: "all-linear",
  lr: 1e-3,
  lrSchedule: "cosine",
  warmupSteps: 10,
  maxGradNorm: 1,
  batchSize: 8,
  seqLen: 128,
  evalEvery: 50,
};

/** Each setting's field / query name (`loratune train`'s flag, except the demo task's sizes) and its kind. */
export const SETTING_FIELDS: readonly { key: keyof WebSettings; name: string; label: string; min?: number }[] = [
  { key: "steps", name: "steps", label: "Steps", min: 1 },
  { key: "batchSize", name: "batch-size", label: "Batch size (rows)", min: 1 },
  { key: "seqLen", name: "seq-len", label: "Tokens per row (max)", min: 8 },
  { key: "rank", name: "rank", label: "LoRA rank r", min: 1 },
  { key: "alpha", name: "alpha", label: "LoRA alpha", min: 0 },
  { key: "targets", name: "targets", label: "Target modules" },
  { key: "lr", name: "lr", label: "Learning rate", min: 0 },
  { key: "lrSchedule", name: "lr-schedule", label: "Schedule (constant, linear, cosine)" },
  { key: "warmupSteps", name: "warmup-steps", label: "Warmup steps", min: 0 },
  { key: "maxGradNorm", name: "max-grad-norm", label: "Clip gradient norm (0: off)", min: 0 },
  { key: "seed", name: "seed", label: "Seed", min: 0 },
  { key: "trainSize", name: "train-size", label: "Training sentences", min: 1 },
  { key: "testSize", name: "test-size", label: "Held-out sentences", min: 1 },
  { key: "evalEvery", name: "eval-every", label: "Held-out loss every (steps; 0: at the end)", min: 0 },
];

/** Settings from name → text pairs (a URL's query, a form): unnamed ones keep their defaults; bad ones throw. */
export function parseSettings(get: (name: string) => string | null, base: WebSettings = WEB_DEFAULTS): WebSettings {
  const out: WebSettings = { ...base };
  const rec = out as unknown as Record<string, string | number>;
  for (const f of SETTING_FIELDS) {
    const text = get(f.name)?.trim();
    if (text === undefined || text === "") continue;
    if (typeof base[f.key] === "string") {
      rec[f.key] = text;
      continue;
    }
    const v = Number(text);
    const integer = f.key !== "lr" && f.key !== "maxGradNorm" && f.key !== "alpha";
    if (!Number.isFinite(v) || (integer && !Number.isInteger(v)) || (f.min !== undefined && v < f.min)) {
      const kind = integer ? "an integer" : "a number";
      throw new LoratuneError(
        "ERR_USAGE",
        `${f.name} must be ${kind}${f.min !== undefined ? ` >= ${f.min}` : ""}, got "${text}"`,
      );
    }
    rec[f.key] = v;
  }
  if (!(LR_SCHEDULES as readonly string[]).includes(out.lrSchedule)) {
    throw new LoratuneError("ERR_USAGE", `lr-schedule must be ${LR_SCHEDULES.join(", ")}, got "${out.lrSchedule}"`);
  }
  return out;
}

/**
 * `loratune train`'s flags for the same run on the CPU (with --data the demo task's train.jsonl for the same seed
 * and sizes, written by `loratune demo` or writeTaskDataset): the same examples, batches, LoRA initialisation and
 * schedule, so its losses are the ones the page's should match within f32 roundoff.
 */
export function trainFlags(s: WebSettings): string[] {
  return [
    "--model=demo",
    `--rank=${s.rank}`,
    `--alpha=${s.alpha}`,
    `--targets=${s.targets}`,
    `--steps=${s.steps}`,
    `--batch-size=${s.batchSize}`,
    `--seq-len=${s.seqLen}`,
    `--seed=${s.seed}`,
    `--lr=${s.lr}`,
    `--lr-schedule=${s.lrSchedule}`,
    `--warmup-steps=${s.warmupSteps}`,
    `--max-grad-norm=${s.maxGradNorm}`,
  ];
}
