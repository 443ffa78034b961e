/**
 * `loratune demo --sweep`: a seeded ASHA sweep (src/sweep/) over LoRA rank and learning rate on the demo task, four
 * standard runs' steps in all (12,000 steps: about 10 minutes on 2 quiet cores at the ~100 s a 3000-step demo run
 * takes there, plus evaluations). It asks what `demo --compare` cannot: r=64 fails at the learning rate that suits
 * r=16 (10% exact match at 1e-3), so at which rates does each rank work, and does the best rank move with the rate?
 * (A plain 3000-step run of r=64 at 3e-4 reaches 100%.) The sweep is an ordinary `loratune sweep` in <out>/sweep
 * (report.html, sweep.json, trials/).
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
 * - Everything else is the demo's standard run (3000 steps, batch 8, cosine schedule, warmup 10, clipping at 1),
 *   and the step budget is 4 × 3000, so the sweep costs four standard runs. ASHA (reduction 3, an evaluation
 *   every 150 steps) has rungs at 300, 1050 and 3000 steps: every pair starts, the top third of a rung goes on.
 *
 * Measured once (shared 2-core machine): 100% for r=16 at 1e-3 in 10,200 steps; the best rank falls as the rate
 * rises (r=64 at 1e-4 and 3e-4, r=16 at 1e-3, r=4 above). Only one trial gets the full 3000 steps, and r=64 at 3e-4
 * lost it at the 1050-step rung (equal exact match, higher validation loss), so the sweep shows r=64 at 12%.
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
  onJobDone?: (job: Job, trial: Trial, state: SweepState) => void;
}

/** Writes the task's data into `out`, runs the sweep in `out/sweep` and returns it (its report is written). */
export async function runDemoSweep(o: DemoSweepOptions): Promise<SweepResult> {
  const task = generateTask({ seed: o.seed, trainSize: o.trainSize, testSize: o.testSize });
  const files = prepareDemoDir(o.out, task);
  o.say(
    `ASHA over rank ${o.ranks.join(", ")} × lr ${o.lrs.join(", ")} (alpha = 2r, all linear layers), ` +
      `${o.steps} steps a full trial, at most ${o.budget || 4 * o.steps} steps in all, goal: held-out exact match`,
  );
  return sweep({
    model: "demo",
    data: files.train,
    val: files.test,
    out: join(o.out, "sweep"),
    strategy: "asha",
    metric: "exact-match",
    steps: o.steps,
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
    ...(o.onJobDone ? { onJobDone: o.onJobDone } : {}),
  });
}
