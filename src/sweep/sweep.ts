/**
 * `sweep()`, behind `loratune sweep`: a hyperparameter search over LoRA settings. Trials are ordinary run
 * directories (`<out>/trials/t000`, …) trained by `train()` in child processes; the sweep directory also holds
 * sweep.json (settings, trials, jobs: what a resume reads), the report and the loratune.json marker.
 *
 * Strategies: grid (every combination), random (seeded draws), asha (seeded draws, successive halving on rungs of
 * --steps / reduction^k steps, promoted on the goal metric at each rung; see asha.ts). --budget caps the steps of
 * all jobs together (default: 4 × --steps for random and asha, the whole grid for grid); --time-budget stops
 * starting jobs after so many minutes of the sweep's wall time (sweep.json keeps the time spent across resumes).
 * How many trials run at once comes from the cores and the training memory estimate of the largest trial
 * (--concurrency to set it).
 */

import { mkdirSync, rmSync } from "node:fs";
import { availableParallelism } from "node:os";
import { resolve } from "node:path";
import { baseHeldFormats, readBaseConfig } from "../api/model-source.ts";
import type { OptionValues } from "../api/options.ts";
import type { TrainOptions } from "../api/train-types.ts";
import { LoratuneError } from "../errors.ts";
import { isHubCacheId } from "../io/hf-cache.ts";
import { checkOutputDir } from "../io/output-guard.ts";
import { writeMarker } from "../io/run-marker.ts";
import { defaultLoraConfig, parseTargets } from "../lora/config.ts";
import { familyOf } from "../model/arch/registry.ts";
import { resolveModelDir } from "../model/load.ts";
import type { StorageDType } from "../tensor/formats/index.ts";
import { heldFormat, planTrainingMemory } from "../train/memory.ts";
import { availableMemory } from "../train/memory-check.ts";
import type { TaskMetric } from "../train/task-metric.ts";
import { rungSteps } from "./asha.ts";
import { runJob } from "./run-job.ts";
import { runScheduler } from "./scheduler.ts";
import {
  dimensionText,
  parseSpace,
  promoteKey,
  resolveConfig,
  type SearchSpace,
  SPACE_KEYS,
  type SpaceKey,
} from "./space.ts";
import { type Job, readState, type Strategy, type SweepState, type Trial, trialDir, writeState } from "./state.ts";

export interface SweepPlan {
  out: string;
  /** Searched settings as flag text or config values. */
  space: Partial<Record<string, unknown>>;
  /** The shared train settings (option keys; model, data required). */
  train: OptionValues;
  strategy: Strategy;
  steps: number;
  minSteps: number;
  reduction: number;
  /** asha: the searched setting whose values are halved on their own (absent: ASHA over all trials). */
  promotePer?: string;
  evalEvery: number;
  budget: number;
  /** Minutes of wall time (0: none). */
  timeBudget: number;
  trials: number;
  metric: TaskMetric;
  seed: number;
  concurrency: number;
  overwrite: boolean;
}

export interface SweepHooks {
  onJobDone?: (job: Job, trial: Trial, state: SweepState) => void;
  onStart?: (state: SweepState) => void;
  signal?: AbortSignal;
}

/** A new sweep: checks the output folder, lays out the settings and runs every job. */
export async function startSweep(p: SweepPlan, hooks: SweepHooks = {}): Promise<SweepState> {
  const space = parseSpace(p.space);
  const settings = sweepSettings(p, space);
  const data = String(p.train.data).split(",");
  const inputs = [...data.map((path) => ({ flag: "--data", path })), { flag: "--model", path: baseModelPath(p) }];
  if (typeof p.train.val === "string") inputs.push({ flag: "--val", path: p.train.val });
  const at = checkOutputDir({ out: p.out, inputs, overwrite: p.overwrite, replaceable: ["sweep"] });
  if (at === "replace") rmSync(p.out, { recursive: true, force: true });
  mkdirSync(p.out, { recursive: true });
  writeMarker(p.out, { kind: "sweep" });
  const state: SweepState = { version: 1, settings, trials: [], jobs: [], status: "running" };
  writeState(p.out, state);
  return continueSweep(p.out, state, hooks);
}

/** Continues a sweep from its sweep.json: interrupted jobs re-run from their trial's last checkpoint. */
export function resumeSweep(dir: string, hooks: SweepHooks = {}): Promise<SweepState> {
  return continueSweep(dir, readState(dir), hooks);
}

async function continueSweep(dir: string, state: SweepState, hooks: SweepHooks): Promise<SweepState> {
  hooks.onStart?.(state);
  const s = state.settings;
  // The sweep's wall time: what earlier runs of it spent (sweep.json) plus this one's.
  const started = performance.now();
  const before = state.elapsedS ?? 0;
  const elapsed = () => before + (performance.now() - started) / 1000;
  const timeBudgetS = 60 * (s.timeBudgetMin ?? 0);
  await runScheduler(state, {
    run: (job, trial) => runJob(job, { options: trialOptions(dir, state, trial), threads: s.threads }),
    save: () => {
      state.elapsedS = elapsed();
      writeState(dir, state);
    },
    ...(timeBudgetS > 0 ? { outOfTime: () => elapsed() >= timeBudgetS } : {}),
    onJobDone: (job, trial) => hooks.onJobDone?.(job, trial, state),
    ...(hooks.signal ? { signal: hooks.signal } : {}),
  });
  if (!hooks.signal?.aborted && state.jobs.every((j) => j.status !== "pending")) {
    if (state.jobs.length > 0 && state.jobs.every((j) => j.status === "failed")) {
      throw new LoratuneError("ERR_USAGE", `every trial failed; the first: ${state.jobs[0]!.error}`);
    }
    state.status = "completed";
    state.elapsedS = elapsed();
    writeState(dir, state);
  }
  return state;
}

/** A trial's train options: the shared settings, the trial's own, and the sweep's cadence. */
export function trialOptions(dir: string, state: SweepState, trial: Trial): TrainOptions {
  const s = state.settings;
  const base = Number(s.train.rank ?? 8);
  const config = resolveConfig(trial.config, base);
  const camel: Record<string, unknown> = {};
  for (const [key, v] of Object.entries({ ...s.train, ...config })) {
    if (v !== undefined) camel[key.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase())] = v;
  }
  return {
    ...(camel as unknown as TrainOptions),
    out: resolve(trialDir(dir, trial)),
    steps: s.maxSteps,
    evalEvery: s.evalEvery,
    metric: s.metric,
    keepCheckpoints: 1,
    saveEvery: 0,
    earlyStopping: 0,
  };
}

function sweepSettings(p: SweepPlan, space: SearchSpace): SweepState["settings"] {
  if (p.train.val === undefined && !(Number(p.train["val-split"] ?? 0) > 0)) {
    throw new LoratuneError(
      "ERR_USAGE",
      "sweep: trials are compared on validation rows: give --val FILE or --val-split FRACTION",
    );
  }
  const evalEvery = p.evalEvery > 0 ? p.evalEvery : Math.max(1, Math.round(p.steps / 30));
  const minSteps = p.minSteps > 0 ? p.minSteps : Math.max(evalEvery, Math.floor(p.steps / p.reduction ** 2));
  if (minSteps > p.steps)
    throw new LoratuneError("ERR_USAGE", `--min-steps (${minSteps}) must be at most --steps (${p.steps})`);
  const rungs = p.strategy === "asha" ? rungSteps(p.steps, minSteps, p.reduction, evalEvery) : [p.steps];
  const trials = p.trials > 0 ? p.trials : p.strategy === "grid" ? Number.MAX_SAFE_INTEGER : 10_000;
  const budget = p.budget > 0 ? p.budget : p.strategy === "grid" ? Number.MAX_SAFE_INTEGER : 4 * p.steps;
  const promotePer = promoteSetting(p, space);
  const concurrency = p.concurrency > 0 ? p.concurrency : autoConcurrency(p, space);
  return {
    strategy: p.strategy,
    space: Object.fromEntries(space.dims.map((d) => [d.key, dimensionText(d)])),
    train: absolutePaths(p.train),
    maxSteps: p.steps,
    rungs,
    eta: p.reduction,
    ...(promotePer ? { promotePer } : {}),
    evalEvery,
    budget,
    timeBudgetMin: p.timeBudget,
    maxTrials: trials,
    metric: p.metric,
    seed: p.seed,
    concurrency,
    threads: Math.max(1, Math.floor(availableParallelism() / concurrency)),
  };
}

/**
 * --promote-per's setting: a searched list (asha.ts, groupedDecide). Only asha promotes, and each value's trials
 * must be a fixed set (a rung of a value decides once all its trials have reported there): lists, or --trials N.
 */
function promoteSetting(p: SweepPlan, space: SearchSpace): SpaceKey | undefined {
  if (p.promotePer === undefined) return undefined;
  if (p.strategy !== "asha")
    throw new LoratuneError(
      "ERR_USAGE",
      `--promote-per "${p.promotePer}": only --strategy asha promotes trials (${p.strategy} trains every trial to --steps)`,
    );
  const key = promoteKey(p.promotePer, space);
  const range = space.dims.find((d) => d.kind === "range");
  if (range && !(p.trials > 0))
    throw new LoratuneError(
      "ERR_USAGE",
      `--promote-per "${p.promotePer}": each value's trials must be a fixed set (a value's rung is decided once all of them have reported), but --${range.key} is a range drawn without end; give --trials N, or every searched setting as a list`,
    );
  return key;
}

/** The base model's directory or file (a cache id at the trials' --revision resolved to its snapshot). */
function baseModelPath(p: SweepPlan): string {
  const revision = p.train.revision;
  return resolveModelDir(String(p.train.model), typeof revision === "string" ? revision : undefined);
}

/** Path options made absolute (not the demo model or a hub id), as sweep.json keeps them. */
export function absolutePaths(v: OptionValues): OptionValues {
  const out = { ...v };
  for (const key of ["data", "val", "init-adapter", "chat-template"]) {
    if (typeof out[key] === "string")
      out[key] = (out[key] as string)
        .split(",")
        .map((x) => resolve(x.trim()))
        .join(",");
  }
  const model = out.model;
  if (typeof model === "string" && model !== "demo" && !model.includes(":") && !isHubCacheId(model))
    out.model = resolve(model);
  return out;
}

/**
 * Trials at once: every core its own trial while the largest trial's training memory estimate (plus the
 * runtime's own) fits 80% of the memory available that many times over.
 */
function autoConcurrency(p: SweepPlan, space: SearchSpace): number {
  const model = baseModelPath(p);
  const config = readBaseConfig(model);
  const ranks = space.dims.find((d) => d.key === "rank");
  const maxRank = ranks?.kind === "list" ? Math.max(...(ranks.values as number[])) : Number(p.train.rank ?? 8);
  const targets = space.dims.find((d) => d.key === "targets");
  const options = targets?.kind === "list" ? (targets.values as string[]) : [String(p.train.targets ?? "all-linear")];
  const dtype = String(p.train.dtype ?? "f32") as StorageDType;
  const quantize = p.train.quantize as Parameters<typeof heldFormat>[2];
  let largest = 0;
  for (const t of options) {
    const memory = planTrainingMemory({
      config,
      formatOf: baseHeldFormats(model, dtype, quantize) ?? ((spec) => heldFormat(spec, dtype, quantize)),
      adapter: defaultLoraConfig({ r: maxRank, targetModules: parseTargets(t) }, familyOf(config)),
      B: Number(p.train["batch-size"] ?? 4),
      T: Number(p.train["seq-len"] ?? 512),
      checkpoint: p.train["grad-checkpoint"] === true,
    });
    largest = Math.max(largest, memory.totalBytes);
  }
  const fit = Math.floor((0.8 * availableMemory().bytes) / Math.max(1, largest));
  return Math.max(1, Math.min(availableParallelism(), fit));
}

export { SPACE_KEYS };
