/**
 * The sweep scheduler's decisions do not depend on which job finishes first: with fake jobs (results fixed by the
 * trial and rung, finishing after different delays) an ASHA sweep creates the same jobs in the same order whether
 * promotions are slow or fast, and with a concurrency of 1.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { runScheduler } from "../../src/sweep/scheduler.ts";
import type { Job, SweepState, Trial } from "../../src/sweep/state.ts";

function freshState(concurrency: number): SweepState {
  return {
    version: 1,
    status: "running",
    trials: [],
    jobs: [],
    settings: {
      strategy: "asha",
      space: { lr: "0.001..0.1:log" },
      train: {},
      maxSteps: 9,
      rungs: [1, 3, 9],
      eta: 3,
      evalEvery: 1,
      budget: 40,
      maxTrials: 10_000,
      metric: "loss",
      seed: 5,
      concurrency,
      threads: 1,
    },
  };
}

/** Runs a sweep whose job j takes delay(j) ms; its jobs as [trial, rung, fromStep, toStep]. */
async function jobsWith(
  concurrency: number,
  delay: (job: Job) => number,
  outOfTime?: () => boolean,
): Promise<number[][]> {
  const state = freshState(concurrency);
  await runScheduler(state, {
    ...(outOfTime ? { outOfTime } : {}),
    save: () => {},
    run: (job: Job, trial: Trial) =>
      new Promise((resolve) =>
        setTimeout(() => {
          // Closer to lr 0.01 is better; more steps are better.
          const valLoss = Math.abs(Math.log10(Number(trial.config.lr) / 0.01)) + 1 / job.toStep;
          resolve({ valLoss, tokensPerS: 1, peakRssMb: 1, trainableParams: 1, adapterBytes: 1, wallS: 0 });
        }, delay(job)),
      ),
  });
  return state.jobs.map((j) => [j.trial, j.rung, j.fromStep, j.toStep]);
}

test("ASHA's jobs are the same however jobs interleave", async () => {
  const even = await jobsWith(2, () => 1);
  assert.ok(
    even.some(([, rung]) => rung === 2),
    "some trial reaches the last rung",
  );
  // Promotions (more steps) finishing after new trials started later: the case that once reordered decisions.
  assert.deepEqual(await jobsWith(2, (j) => (j.rung > 0 ? 25 : 1)), even);
  assert.deepEqual(await jobsWith(2, (j) => ((j.id * 7) % 5) * 4), even);
  assert.deepEqual(await jobsWith(3, (j) => (j.rung > 0 ? 25 : 1)), await jobsWith(3, () => 1));
});

test("no job starts once the time budget is spent; the jobs before are those of a sweep without one", async () => {
  const whole = await jobsWith(1, () => 1);
  // A clock that runs out once three jobs have been created (the scheduler asks before creating each job).
  let asked = 0;
  const cut = await jobsWith(
    1,
    () => 1,
    () => ++asked > 3,
  );
  assert.deepEqual(cut, whole.slice(0, 3));
  // With two at once, the cut falls after the same jobs in the same order.
  asked = 0;
  const two = await jobsWith(
    2,
    () => 5,
    () => ++asked > 4,
  );
  assert.deepEqual(two, (await jobsWith(2, () => 5)).slice(0, 4));
});
