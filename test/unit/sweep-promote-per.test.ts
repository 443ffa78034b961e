/**
 * ASHA promoted per value of a setting (`--promote-per rank`, src/sweep/asha.ts groupedDecide), on hand-made states
 * and fake jobs (no training): a group's rung decides only once all its trials have reported there, its top
 * floor(n/eta), at least one, go on, so every value reaches the last rung with its best trial; the steps follow
 * plannedSteps exactly, the jobs do not depend on which job finishes first, and the demo's settings fit 4 standard
 * runs. The setting must be a searched list, with asha, and a fixed set of trials; a resume may not change it.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { validateOptions } from "../../src/api/options.ts";
import { SWEEP_OPTIONS } from "../../src/cli/sweep.ts";
import { DEMO_SWEEP_REDUCTION, DEMO_SWEEP_SPACE, demoSweepMinSteps } from "../../src/demo/sweep-demo.ts";
import {
  type AshaView,
  groupedDecide,
  groupRungSizes,
  plannedSteps,
  type RungResult,
  rungSteps,
} from "../../src/sweep/asha.ts";
import { resumeConflicts } from "../../src/sweep/resume-check.ts";
import { plannedSweepSteps, runScheduler, trialConfigs, trialGroups } from "../../src/sweep/scheduler.ts";
import { parseSpace, promoteKey } from "../../src/sweep/space.ts";
import type { Job, SweepState, Trial } from "../../src/sweep/state.ts";

const r = (trial: number, rung: number, score: number, tie = 0): RungResult => ({ trial, rung, score, tie });

test("a group's trials at each rung: n, then floor(n/eta), at least one", () => {
  assert.deepEqual(groupRungSizes(5, 4, 3), [5, 1, 1, 1]);
  assert.deepEqual(groupRungSizes(9, 3, 3), [9, 3, 1]);
  assert.deepEqual(groupRungSizes(4, 3, 2), [4, 2, 1]);
  assert.deepEqual(groupRungSizes(2, 1, 3), [2]);
  // Steps: every trial to the lowest rung, each group's survivors on from there.
  assert.equal(plannedSteps([3, 3], [1, 3, 9], 3), 6 * 1 + 2 * 2 + 2 * 6);
  assert.equal(plannedSteps([5, 5, 5], [300, 1050, 3000], 3), 15 * 300 + 3 * 2700);
});

test("the demo's sweep, promoted per rank, spends at most 4 standard runs' steps", () => {
  const steps = 3000;
  const rungs = rungSteps(steps, demoSweepMinSteps(steps), DEMO_SWEEP_REDUCTION, steps / 20);
  assert.deepEqual(rungs, [150, 300, 1050, 3000]);
  const ranks = DEMO_SWEEP_SPACE.rank.length;
  const sizes = Array.from({ length: ranks }, () => DEMO_SWEEP_SPACE.lr.length);
  assert.equal(plannedSteps(sizes, rungs, DEMO_SWEEP_REDUCTION), 15 * 150 + 3 * 2850);
  assert.ok(plannedSteps(sizes, rungs, DEMO_SWEEP_REDUCTION) <= 4 * steps);
  // Reduction 3's default lowest rung (steps / 9) would not fit: why the demo goes one rung lower.
  assert.ok(plannedSteps(sizes, rungSteps(steps, steps / 9, 3, steps / 20), 3) > 4 * steps);
});

test("a group promotes once all its trials at a rung have reported: its best, even where plain ASHA would not", () => {
  // Trials 0, 2, 4 have value a; 1, 3, 5 value b.
  const groups = {
    groupOf: ["a", "b", "a", "b", "a", "b"],
    sizes: new Map([
      ["a", 3],
      ["b", 3],
    ]),
  };
  const base: Omit<AshaView, "results"> = {
    scheduled: new Set(["0@0", "1@0", "2@0", "3@0", "4@0", "5@0"]),
    busy: new Set<number>(),
    rungs: 3,
    eta: 3,
    canStart: false,
  };
  // a has 2 of its 3 results (its best, trial 0, leads overall; plain ASHA would promote it); b has all 3.
  const first = [r(0, 0, 1), r(2, 0, 2), r(1, 0, 5), r(3, 0, 4), r(5, 0, 6)];
  assert.deepEqual(groupedDecide({ ...base, results: first }, groups), { kind: "promote", trial: 3, rung: 1 });
  // b's one slot is taken; a still waits for trial 4: nothing to do, nothing to start.
  const after3 = { ...base, scheduled: new Set([...base.scheduled, "3@1"]) };
  assert.deepEqual(groupedDecide({ ...after3, results: first }, groups), { kind: "none" });
  assert.deepEqual(groupedDecide({ ...after3, results: first, canStart: true }, groups), { kind: "new" });
  // a complete: its best goes on.
  const all0 = [...first, r(4, 0, 3)];
  assert.deepEqual(groupedDecide({ ...after3, results: all0 }, groups), { kind: "promote", trial: 0, rung: 1 });
  // Rung 1 has one trial of b: it goes on alone (floor(1/3) = 0, at least one), and a higher rung goes first.
  const both = { ...base, scheduled: new Set([...base.scheduled, "3@1", "0@1"]) };
  const upper = [...all0, r(3, 1, 0.5)];
  assert.deepEqual(groupedDecide({ ...both, results: upper }, groups), { kind: "promote", trial: 3, rung: 2 });
  // A trial whose job is not known yet cannot be promoted.
  assert.deepEqual(groupedDecide({ ...both, results: upper, busy: new Set([3]) }, groups), { kind: "none" });
  // Ties of the score go to `tie` (the validation loss), then to the trial order.
  const tied = [r(0, 0, 0, 2), r(2, 0, 0, 1), r(4, 0, 0, 3)];
  assert.deepEqual(groupedDecide({ ...base, results: tied }, groups), { kind: "promote", trial: 2, rung: 1 });
});

/** A sweep of fake jobs over rank × lr lists: rungs 1, 3, 9, 27 steps, 4 full trials' steps (promoted per rank or not). */
function freshState(concurrency: number, promotePer?: "rank"): SweepState {
  return {
    version: 1,
    status: "running",
    trials: [],
    jobs: [],
    settings: {
      strategy: "asha",
      space: { rank: "4,16,64", lr: "0.0001,0.0003,0.001,0.003,0.01" },
      train: {},
      maxSteps: 27,
      rungs: [1, 3, 9, 27],
      eta: 3,
      ...(promotePer ? { promotePer } : {}),
      evalEvery: 1,
      budget: 4 * 27,
      maxTrials: 10_000,
      metric: "exact-match",
      seed: 7,
      concurrency,
      threads: 1,
    },
  };
}

/** Each rank's best rate: 3e-3 for r=4, 1e-3 for r=16, 3e-4 for r=64; a larger rank learns more at its best. */
const bestLr: Record<number, number> = { 4: 3e-3, 16: 1e-3, 64: 3e-4 };

async function runFake(concurrency: number, delay: (job: Job) => number, promotePer?: "rank"): Promise<SweepState> {
  const state = freshState(concurrency, promotePer);
  await runScheduler(state, {
    save: () => {},
    run: (job: Job, trial: Trial) =>
      new Promise((resolve) =>
        setTimeout(() => {
          const rank = Number(trial.config.rank);
          const off = Math.abs(Math.log10(Number(trial.config.lr) / bestLr[rank]!));
          const valLoss = off + 1 / job.toStep - rank / 1000;
          resolve({
            valLoss,
            exactMatch: 0,
            tokensPerS: 1,
            peakRssMb: 1,
            trainableParams: 1,
            adapterBytes: 1,
            wallS: 0,
          });
        }, delay(job)),
      ),
  });
  return state;
}

const jobsOf = (s: SweepState) => s.jobs.map((j) => [j.trial, j.rung, j.fromStep, j.toStep]);
const steps = (s: SweepState) => s.jobs.reduce((n, j) => n + j.toStep - j.fromStep, 0);
const atTop = (s: SweepState) =>
  s.jobs
    .filter((j) => j.rung === s.settings.rungs.length - 1)
    .map((j) => s.trials[j.trial]!.config)
    .sort((a, b) => Number(a.rank) - Number(b.rank));

test("promoted per rank, every rank trains its best rate to the end, in the planned steps, whatever finishes first", async () => {
  const grouped = await runFake(2, () => 1, "rank");
  assert.deepEqual(atTop(grouped), [
    { rank: 4, lr: 0.003 },
    { rank: 16, lr: 0.001 },
    { rank: 64, lr: 0.0003 },
  ]);
  assert.equal(steps(grouped), plannedSweepSteps(grouped.settings));
  assert.equal(steps(grouped), 15 * 1 + 3 * 26);
  assert.ok(grouped.jobs.every((j) => j.status === "done"));
  // The same jobs in the same order when promotions are slow, when jobs finish in a scrambled order, one at a time.
  assert.deepEqual(jobsOf(await runFake(2, (j) => (j.rung > 0 ? 25 : 1), "rank")), jobsOf(grouped));
  assert.deepEqual(jobsOf(await runFake(2, (j) => ((j.id * 7) % 5) * 4, "rank")), jobsOf(grouped));
  assert.deepEqual(jobsOf(await runFake(1, () => 1, "rank")).sort(), jobsOf(grouped).sort());
  // Plain ASHA on the same sweep: the top rung goes to whichever trials lead overall, not one per rank.
  const plain = await runFake(2, () => 1);
  assert.equal(plannedSweepSteps(plain.settings), null);
  assert.notDeepEqual(atTop(plain), atTop(grouped));
});

test("--promote-per names a searched list setting, with asha and a fixed set of trials; errors name the token", () => {
  const space = parseSpace({ rank: "4,16", lr: "1e-4..1e-2:log" });
  assert.equal(promoteKey("rank", space), "rank");
  assert.throws(
    () => promoteKey("ranks", space),
    /^LoratuneError: --promote-per: "ranks" is not a setting a sweep searches \(rank, lr, alpha, dropout, targets\)$/,
  );
  assert.throws(
    () => promoteKey("alpha", space),
    /^LoratuneError: --promote-per: "alpha" is not searched by this sweep \(it searches rank, lr\)$/,
  );
  assert.throws(
    () => promoteKey("lr", space),
    /^LoratuneError: --promote-per: "lr" is searched as a range \(0\.0001\.\.0\.01:log\); promotion per value needs a list of values, e\.g\. --lr 0\.0001,0\.01$/,
  );
  // Groups from the trial list: a shuffled grid, every value with all its trials.
  const configs = trialConfigs(parseSpace({ rank: "4,16,64", lr: "1e-4,1e-3" }), "asha", 7, 10_000);
  const g = trialGroups(configs, "rank");
  assert.deepEqual([...g.sizes.entries()].sort(), [
    ["16", 2],
    ["4", 2],
    ["64", 2],
  ]);
  assert.deepEqual(
    g.groupOf,
    configs.map((c) => String(c.rank)),
  );
});

test("a resume may not change --promote-per", () => {
  const s = freshState(2, "rank");
  const given = (v: Record<string, string>) => validateOptions(SWEEP_OPTIONS, { resume: "/x", ...v });
  assert.deepEqual(resumeConflicts("/x", s, given({ "promote-per": "rank" }), SWEEP_OPTIONS), []);
  assert.deepEqual(resumeConflicts("/x", s, given({ "promote-per": "lr" }), SWEEP_OPTIONS), [
    "--promote-per: the sweep used rank, this command says lr",
  ]);
  const plain = freshState(2);
  assert.deepEqual(resumeConflicts("/x", plain, given({ "promote-per": "rank" }), SWEEP_OPTIONS), [
    "--promote-per: the sweep used (none: ASHA over all trials), this command says rank",
  ]);
});
