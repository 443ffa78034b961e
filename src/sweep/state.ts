/**
 * sweep.json: everything a sweep needs to go on after a kill — its settings, every trial's configuration and every
 * job (a trial trained from one step to the next rung's) with its result. It is rewritten atomically whenever a
 * job is created or finishes, so a killed sweep loses only the jobs that were running; those re-run from their
 * trial's last checkpoint (each job ends with one), and a finished job never runs again.
 */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { OptionValues } from "../api/options.ts";
import { LoratuneError } from "../errors.ts";
import { writeFileAtomic } from "../io/atomic.ts";
import type { TaskMetric } from "../train/task-metric.ts";
import type { SpaceKey, TrialConfig } from "./space.ts";

export const STATE_FILE = "sweep.json";
export const STRATEGIES = ["grid", "random", "asha"] as const;
export type Strategy = (typeof STRATEGIES)[number];

export interface SweepSettings {
  strategy: Strategy;
  /** Each searched setting as written ("4,16,64", "1e-4..1e-2:log"). */
  space: Record<string, string>;
  /** The train settings every trial shares (option keys, paths absolute). */
  train: OptionValues;
  /** Steps of a full trial, the rung budgets (the last is maxSteps) and ASHA's reduction factor. */
  maxSteps: number;
  rungs: number[];
  eta: number;
  /** asha: promote within each value of this searched setting (asha.ts, groupedDecide); absent: ASHA over all. */
  promotePer?: SpaceKey;
  evalEvery: number;
  /** Total steps of all jobs together, and the most trials to start. */
  budget: number;
  /** Minutes of wall time after which no job starts (0 or absent: none). */
  timeBudgetMin?: number;
  maxTrials: number;
  metric: TaskMetric;
  seed: number;
  concurrency: number;
  threads: number;
}

export interface JobResult {
  valLoss: number;
  exactMatch?: number;
  tokenAccuracy?: number;
  tokensPerS: number;
  peakRssMb: number;
  trainableParams: number;
  adapterBytes: number;
  wallS: number;
}

export interface Job {
  id: number;
  trial: number;
  rung: number;
  fromStep: number;
  toStep: number;
  status: "pending" | "done" | "failed";
  result?: JobResult;
  error?: string;
}

export interface Trial {
  id: number;
  name: string;
  config: TrialConfig;
}

export interface SweepState {
  version: 1;
  settings: SweepSettings;
  trials: Trial[];
  jobs: Job[];
  /** Wall time spent so far, over every run of the sweep (a resume adds its own). */
  elapsedS?: number;
  /** "running" until the scheduler has nothing left to do. */
  status: "running" | "completed";
}

export function writeState(dir: string, state: SweepState): void {
  writeFileAtomic(join(dir, STATE_FILE), `${JSON.stringify(state, null, 1)}\n`);
}

export function readState(dir: string): SweepState {
  const path = join(dir, STATE_FILE);
  if (!existsSync(path))
    throw new LoratuneError("ERR_USAGE", `--resume ${dir}: not a sweep directory (no ${STATE_FILE})`);
  try {
    const s = JSON.parse(readFileSync(path, "utf8")) as SweepState;
    if (s.version !== 1 || !Array.isArray(s.jobs) || !Array.isArray(s.trials)) throw new Error("unknown layout");
    return s;
  } catch (err) {
    throw new LoratuneError("ERR_IO", `${path}: unreadable sweep state (${(err as Error).message})`);
  }
}

/** The trial's run directory. */
export const trialDir = (dir: string, t: Trial) => join(dir, "trials", t.name);
