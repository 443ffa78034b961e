/**
 * `sweep()`'s options, one table for the library and `loratune sweep` (architecture.md, "A command"): the sweep's
 * own options, the searched settings (text: lists, ranges, rank multiples; src/sweep/space.ts) and every train
 * option the trials share, with train's defaults, bounds and help. `--resume`, `--config` and `--json` belong to
 * the command line (a library caller resumes with `resumeSweep(dir)`).
 */
import { defaultsOf, type OptionDef, type OptionValues } from "../api/options.ts";
import { TRAIN_OPTIONS } from "../api/train-options.ts";
import type { TrainOptions } from "../api/train-types.ts";
import type { TaskMetric } from "../train/task-metric.ts";
import { TASK_METRICS } from "../train/task-metric.ts";
import { STRATEGIES, type Strategy } from "./state.ts";
import type { SweepPlan } from "./sweep.ts";

/** The searched settings: lists, ranges, rank multiples (src/sweep/space.ts). */
export const SPACE_OPTIONS: OptionDef[] = [
  { key: "rank", kind: "string", help: "LoRA ranks to try, e.g. 4,16,64", metavar: "list" },
  {
    key: "lr",
    kind: "string",
    help: "learning rates: a list (1e-4,1e-3) or a range (1e-4..1e-2:log)",
    metavar: "space",
  },
  { key: "alpha", kind: "string", help: "LoRA alphas: numbers or rank multiples, e.g. 2r,16", metavar: "list" },
  { key: "dropout", kind: "string", help: "LoRA dropouts: a list or a range in [0, 1)", metavar: "space" },
  {
    key: "targets",
    kind: "string",
    help: 'target sets separated by "|", e.g. "q_proj,v_proj|all-linear"',
    metavar: "sets",
  },
];

export const SWEEP_OWN: OptionDef[] = [
  {
    key: "out",
    kind: "string",
    help: "sweep directory: trials/, sweep.json, report.html (with --resume: the sweep's own)",
    metavar: "dir",
    required: true,
  },
  {
    key: "resume",
    kind: "string",
    help: "continue a killed or interrupted sweep with its own settings (options that would change them are refused)",
    metavar: "dir",
    cliOnly: true,
  },
  { key: "overwrite", kind: "bool", help: "replace --out if it is an earlier sweep", default: false },
  {
    key: "config",
    kind: "string",
    help: "YAML/JSON file: train options, and the search in a sweep: section",
    metavar: "file",
    cliOnly: true,
  },
  {
    key: "strategy",
    kind: "choice",
    help: "grid, random, or asha (successive halving)",
    default: "asha",
    choices: STRATEGIES,
  },
  { key: "steps", kind: "int", help: "optimizer steps of a full trial", default: 1000, min: 1 },
  { key: "min-steps", kind: "int", help: "asha: the lowest rung's steps (0: steps / reduction²)", default: 0, min: 0 },
  { key: "reduction", kind: "int", help: "asha: keep the top 1/reduction of each rung", default: 3, min: 2 },
  {
    key: "promote-per",
    kind: "string",
    help: "asha: halve the trials of each value of this searched list setting on their own (rank: every rank trains its best trial to --steps)",
    metavar: "setting",
  },
  {
    key: "budget",
    kind: "int",
    help: "total steps of all trials (0: 4 × --steps; grid: the whole grid)",
    default: 0,
    min: 0,
  },
  {
    key: "time-budget",
    kind: "number",
    help: "minutes of wall time after which no job starts (running ones finish; a resumed sweep counts its time before the stop; 0: none)",
    default: 0,
    min: 0,
    metavar: "min",
  },
  { key: "trials", kind: "int", help: "most trials to start (0: as many as the budget allows)", default: 0, min: 0 },
  {
    key: "eval-every",
    kind: "int",
    help: "evaluate trials every N steps (0: steps / 30); rungs fall on evaluations",
    default: 0,
    min: 0,
  },
  {
    key: "metric",
    kind: "choice",
    help: "goal: validation loss, or exact match of greedy completions",
    default: "loss",
    choices: TASK_METRICS,
  },
  {
    key: "concurrency",
    kind: "int",
    help: "trials at once (0: from the cores and the memory estimate)",
    default: 0,
    min: 0,
  },
];

/** Train options the sweep sets itself, or searches: not shared flags. */
const NOT_SHARED = new Set([
  ...SPACE_OPTIONS.map((d) => d.key),
  ...SWEEP_OWN.map((d) => d.key),
  "json",
  "epochs",
  "early-stopping",
  "save-every",
  "keep-checkpoints",
]);
export const SHARED = TRAIN_OPTIONS.filter((d) => !NOT_SHARED.has(d.key));

export const SWEEP_OPTIONS: readonly OptionDef[] = [
  ...SWEEP_OWN,
  ...SPACE_OPTIONS,
  ...SHARED,
  { key: "json", kind: "bool", help: "print the sweep's data (the report's) as one JSON object", cliOnly: true },
];

/** Train options a sweep does not share with its trials (it searches them or sets them itself), or the CLI's own. */
type NotShared =
  | "rank"
  | "lr"
  | "alpha"
  | "dropout"
  | "targets"
  | "out"
  | "resume"
  | "config"
  | "overwrite"
  | "steps"
  | "evalEvery"
  | "metric"
  | "epochs"
  | "earlyStopping"
  | "saveEvery"
  | "keepCheckpoints"
  | "beta1"
  | "beta2"
  | "adamEps"
  | "signal"
  | "onEvent"
  | "onSummary"
  | "onMessage";

/**
 * A new sweep: the model, the data and the sweep directory are required, with at least one searched setting;
 * every other option is at its default unless given (SWEEP_DEFAULTS), e.g. `sweep({ model: "demo", data:
 * "train.jsonl", val: "test.jsonl", out: "sweeps/a", rank: "4,16,64", lr: "1e-4..1e-2:log" })`. The shared train
 * options are TrainOptions' (same names, defaults and documentation).
 */
export interface SweepOptions extends Omit<TrainOptions, NotShared> {
  /** Sweep directory: trials/, sweep.json, report.html. */
  out: string;
  /**
   * Replace `out` if it is an earlier sweep.
   * @defaultValue false
   */
  overwrite?: boolean;
  /**
   * grid (every combination), random (seeded draws), or asha (successive halving).
   * @defaultValue "asha"
   */
  strategy?: Strategy;
  /**
   * Optimizer steps of a full trial, at least 1.
   * @defaultValue 1000
   */
  steps?: number;
  /**
   * asha: the lowest rung's steps (0: steps / reduction²).
   * @defaultValue 0
   */
  minSteps?: number;
  /**
   * asha: keep the top 1/reduction of each rung, at least 2.
   * @defaultValue 3
   */
  reduction?: number;
  /**
   * asha: halve the trials of each value of this searched list setting on their own (e.g. "rank": every rank
   * trains its best trial to `steps`, so the sweep answers which learning rate suits each rank). Each value's
   * trials at a rung are compared once all have reported there; the top 1/reduction, at least one, go on.
   */
  promotePer?: string;
  /**
   * Total steps of all trials (0: 4 × steps; grid: the whole grid).
   * @defaultValue 0
   */
  budget?: number;
  /**
   * Minutes of wall time after which no job starts (running ones finish; a resumed sweep counts its time before the
   * stop; 0: none). Unlike the step budget, where it stops depends on the machine's speed.
   * @defaultValue 0
   */
  timeBudget?: number;
  /**
   * Most trials to start (0: as many as the budget allows).
   * @defaultValue 0
   */
  trials?: number;
  /**
   * Evaluate trials every N steps (0: steps / 30); rungs fall on evaluations.
   * @defaultValue 0
   */
  evalEvery?: number;
  /**
   * The goal: validation loss, or exact match of greedy completions.
   * @defaultValue "loss"
   */
  metric?: TaskMetric;
  /**
   * Trials at once (0: from the cores and the memory estimate).
   * @defaultValue 0
   */
  concurrency?: number;
  /** LoRA ranks to try, e.g. "4,16,64". */
  rank?: string;
  /** Learning rates: a list ("1e-4,1e-3") or a range ("1e-4..1e-2:log"). */
  lr?: string;
  /** LoRA alphas: numbers or rank multiples, e.g. "2r,16". */
  alpha?: string;
  /** LoRA dropouts: a list or a range in [0, 1). */
  dropout?: string;
  /** Target sets separated by "|", e.g. "q_proj,v_proj|all-linear". */
  targets?: string;
}

/** The defaults of sweep()'s options, by library name (SWEEP_DEFAULTS.strategy is "asha"). */
export const SWEEP_DEFAULTS = defaultsOf<SweepOptions>(SWEEP_OPTIONS);

/** Control options the trials still need: --no-memory-check lets a trial train past the memory estimate. */
const PASSED_TO_TRIALS = new Set(["memory-check"]);

/**
 * The plan of a sweep from complete option values (by key, defaults filled): the searched settings, the shared
 * train settings (not the control options, which change how a command runs, not what a trial computes, except
 * those a trial's own run needs).
 */
export function planOf(values: OptionValues, space: Record<string, unknown>, train?: OptionValues): SweepPlan {
  const shared: OptionValues = { ...train };
  for (const d of SHARED)
    if (values[d.key] !== undefined && (!d.control || PASSED_TO_TRIALS.has(d.key))) shared[d.key] = values[d.key];
  return {
    out: String(values.out),
    space,
    train: shared,
    strategy: values.strategy as Strategy,
    steps: Number(values.steps),
    minSteps: Number(values["min-steps"]),
    reduction: Number(values.reduction),
    ...(typeof values["promote-per"] === "string" ? { promotePer: values["promote-per"] } : {}),
    evalEvery: Number(values["eval-every"]),
    budget: Number(values.budget),
    timeBudget: Number(values["time-budget"]),
    trials: Number(values.trials),
    metric: values.metric as TaskMetric,
    seed: Number(values.seed),
    concurrency: Number(values.concurrency),
    overwrite: values.overwrite === true,
  };
}
