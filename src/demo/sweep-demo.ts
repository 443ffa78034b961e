/**
 * `loratune demo --sweep`: a seeded ASHA sweep (src/sweep/) over LoRA rank and learning rate on the demo task, within
 * four standard runs' steps (12,000). It asks what `demo --compare` cannot: r=64 fails at the learning rate that
 * suits r=16 (10% exact match at 1e-3), so at which rate does each rank work, and does the best rank move with the
 * rate? The sweep is an ordinary `loratune sweep` in <out>/sweep (report.html, sweep.json, trials/).
 *
 * The search space, and why (lr-find on this task, seed 7, batch 8, 60 steps from 1e-5 to 1, alpha = 2r):
 * - The steepest descent of the loss falls at 5.2e-3 (r=4), 2.9e-3 (r=16) and 1.6e-3 (r=64): with alpha = 2r
 *   every rank has the same scale alpha/r, so a larger rank moves the weights more per step at a given rate and
 *   wants a smaller one. Each rank's loss starts to fall about a decade below its steepest point.
 * - A rate that trains well over a whole run sits a few times below the steepest descent (the range test's steps
 *   are few, a run's errors compound), so the rates run at half-decade steps from 1e-4 (a decade below r=64's
 *   steepest descent, where its loss starts falling) to 1e-2 (twice r=4's steepest descent, where every rank is
 *   past its best): every rank gets rates on both sides of its best, and the table shows where each one works.
 * - Ranks 4, 16, 64 as in `demo --compare`; alpha = 2r and all linear layers, as the demo trains.
 * - Everything else is the demo's standard run (3000 steps, batch 8, cosine schedule, warmup 10, clipping at 1).
 *
 * Promotion per rank (`--promote-per rank`, src/sweep/asha.ts). Plain ASHA ranks all 15 trials together, and within
 * 4 × 3000 steps its reduction-3 rungs (300, 1050, 3000) leave room for one full-length trial: measured once, r=16
 * at 1e-3 took it (100%), and r=64 at 3e-4 — 100% when trained the full 3000 steps on its own — lost it at the
 * 1050-step rung (both 12% exact match there; the validation loss broke the tie) and showed 12%. The question
 * asked is per rank, so each rank's five rates are halved on their own, and each rank trains its best rate to the
 * end. The budget fixes the rungs: with the top third (at least one) of each rank going on, the steps are
 * 15 trials × r0 + 3 ranks × (3000 − r0) ≤ 12,000, so the lowest rung r0 can be at most 250 steps. Reduction 3's
 * rungs are 3000/3^k; the default lowest, 3000/9 (300 steps), would spend 12,600, so the sweep goes one rung lower,
 * 3000/27, which falls on the first evaluation: rungs at 150, 300, 1050 and 3000 steps, and 15 × 150 + 3 × 2850 =
 * 10,800 steps (each rank's one contender passes the 300 and 1050 rungs alone). 150 steps is 5% of a run, when
 * exact match is still 0 for every trial, so the validation loss picks each rank's rate (ties of the goal metric
 * go to it); too early a pick is the risk of any successive halving, and the sweep's own curves show how it went.
 *
 * Measured once, full size (shared 2-core machine under load from other jobs; 33 minutes): the 150-step validation
 * loss picked r=4 at 3e-3 (0.603; 1e-2: 0.686), r=16 at 1e-3 (0.597; 3e-3: 0.756) and r=64 at 3e-4 (0.625; 1e-3:
 * 0.772); after 3000 steps r=16 at 1e-3 and r=64 at 3e-4 reach 100% held-out exact match, r=4 at 3e-3 68%, in
 * 10,800 steps. The best rank falls as the rate rises (r=64 at 1e-4 and 3e-4, r=16 at 1e-3, r=4 at 3e-3 and 1e-2).
 */
import { join } from "node:path";
import { type SweepResult, sweep } from "../sweep/library.ts";
import type { Job, SweepState, Trial } from "../sweep/state.ts";
import { prepareDemoDir } from "./demo-dir.ts";
import { generateTask } from "./task.ts";

/** The searched ranks and learning rates (see the header for the reasoning). */
export const DEMO_SWEEP_SPACE = { rank: [4, 16, 64], lr: [1e-4, 3e-4, 1e-3, 3e-3, 1e-2] };

/**
 * Evaluations in a full trial (exact match of 50 greedy completions each; ASHA's rungs fall on them), and trials at
 * once: two, one per core of the machine the demo is sized for, and fixed so that the sweep's decisions (which lag
 * by the concurrency) do not depend on the machine it runs on.
 */
export const DEMO_SWEEP_EVALS = 20;
export const DEMO_SWEEP_CONCURRENCY = 2;

/** ASHA's reduction factor and its lowest rung: steps / reduction³ (the header's budget arithmetic). */
export const DEMO_SWEEP_REDUCTION = 3;
export const demoSweepMinSteps = (steps: number) => Math.max(1, Math.floor(steps / DEMO_SWEEP_REDUCTION ** 3));

export interface DemoSweepOptions {
  out: string;
  seed: number;
  /** Steps of a full trial (the demo's standard run). */
  steps: number;
  /** Total steps of all trials (0: 4 × steps). */
  budget: number;
  trainSize: number;
  testSize: number;
  batchSize: number;
  ranks: readonly number[];
  lrs: readonly number[];
  say: (text: string) => void;
  onStart?: (state: SweepState) => void;
  onJobDone?: (job: Job, trial: Trial, state: SweepState) => void;
}

/** Writes the task's data into `out`, runs the sweep in `out/sweep` and returns it (its report is written). */
export async function runDemoSweep(o: DemoSweepOptions): Promise<SweepResult> {
  const task = generateTask({ seed: o.seed, trainSize: o.trainSize, testSize: o.testSize });
  const files = prepareDemoDir(o.out, task);
  o.say(
    `ASHA over rank ${o.ranks.join(", ")} × lr ${o.lrs.join(", ")} (alpha = 2r, all linear layers), ` +
      `${o.steps} steps a full trial, at most ${o.budget || 4 * o.steps} steps in all, goal: held-out exact match; ` +
      "each rank's rates are halved on their own, so every rank trains its best rate to the end",
  );
  return sweep({
    model: "demo",
    data: files.train,
    val: files.test,
    out: join(o.out, "sweep"),
    strategy: "asha",
    metric: "exact-match",
    steps: o.steps,
    minSteps: demoSweepMinSteps(o.steps),
    reduction: DEMO_SWEEP_REDUCTION,
    promotePer: "rank",
    budget: o.budget,
    evalEvery: Math.max(1, Math.round(o.steps / DEMO_SWEEP_EVALS)),
    concurrency: DEMO_SWEEP_CONCURRENCY,
    rank: o.ranks.join(","),
    lr: o.lrs.join(","),
    alpha: "2r",
    targets: "all-linear",
    batchSize: o.batchSize,
    seqLen: 128,
    seed: o.seed,
    lrSchedule: "cosine",
    warmupSteps: 10,
    maxGradNorm: 1,
    ...(o.onStart ? { onStart: o.onStart } : {}),
    ...(o.onJobDone ? { onJobDone: o.onJobDone } : {}),
  });
}
