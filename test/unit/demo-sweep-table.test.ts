/**
 * `demo --sweep`'s rank × learning-rate table from a hand-made ASHA state (no training): each cell is the trial's
 * exact match at its furthest step, a pair never started is "–", and the best rank of a row wins its comparisons at
 * equal steps (the highest rung both trials reached), not the best figure across different step counts.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { rankBests, rankBestsText, rankLrMarkdown, rankLrTable } from "../../src/demo/sweep-table.ts";
import type { Job, SweepState } from "../../src/sweep/state.ts";

const RUNGS = [1, 3, 9];

/** Trials as [rank, lr, per rung reached: [exact match, validation loss]]. */
function ashaState(specs: [number, number, [number, number][]][]): SweepState {
  const jobs: Job[] = specs.flatMap(([, , results], trial) =>
    results.map(([exactMatch, valLoss], rung) => ({
      id: 0,
      trial,
      rung,
      fromStep: rung === 0 ? 0 : RUNGS[rung - 1]!,
      toStep: RUNGS[rung]!,
      status: "done" as const,
      result: { valLoss, exactMatch, tokensPerS: 1, peakRssMb: 1, trainableParams: 1, adapterBytes: 1, wallS: 1 },
    })),
  );
  jobs.forEach((j, i) => {
    j.id = i;
  });
  return {
    version: 1,
    status: "completed",
    trials: specs.map(([rank, lr], id) => ({ id, name: `t${String(id).padStart(3, "0")}`, config: { rank, lr } })),
    jobs,
    settings: {
      strategy: "asha",
      space: { rank: "4,16,64", lr: "0.0001,0.001" },
      train: {},
      maxSteps: 9,
      rungs: RUNGS,
      eta: 3,
      evalEvery: 1,
      budget: 100,
      maxTrials: 6,
      metric: "exact-match",
      seed: 0,
      concurrency: 1,
      threads: 1,
    },
  };
}

test("cells hold each trial's exact match at its furthest step; the best rank wins at equal steps", () => {
  const state = ashaState([
    // lr 1e-3: r=4 goes the distance; r=64 is pruned at rung 0 (higher loss there).
    [
      4,
      1e-3,
      [
        [0, 0.9],
        [0.5, 0.5],
        [1, 0.2],
      ],
    ],
    [64, 1e-3, [[0, 1.0]]],
    // lr 1e-4: r=64 goes the distance; r=4 and r=16 stop at rung 0, where r=16 had the best exact match (40%).
    [
      64,
      1e-4,
      [
        [0, 1.5],
        [0.6, 0.4],
        [0.95, 0.25],
      ],
    ],
    [4, 1e-4, [[0, 2.0]]],
    [16, 1e-4, [[0.4, 1.8]]],
  ]);
  const t = rankLrTable(state, [4, 16, 64], [1e-4, 1e-3]);
  assert.deepEqual(t.cells, [
    [
      { trial: "t003", exactMatch: 0, steps: 1 },
      { trial: "t004", exactMatch: 0.4, steps: 1 },
      { trial: "t002", exactMatch: 0.95, steps: 9 },
    ],
    [{ trial: "t000", exactMatch: 1, steps: 9 }, null, { trial: "t001", exactMatch: 0, steps: 1 }],
  ]);
  // lr 1e-4: r=16 beats r=4 and r=64 at rung 0 (40% against 0%), though r=64 later reaches 95%: equal steps decide.
  // lr 1e-3: r=4 beats r=64 at rung 0 (equal exact match, lower loss).
  assert.deepEqual(t.bestRank, [16, 4]);
  assert.equal(
    rankLrMarkdown(t),
    [
      "| lr | r=4 | r=16 | r=64 | best rank |",
      "| --- | --- | --- | --- | --- |",
      "| 0.0001 | 0% (1) | 40% (1) | 95% (9) | r=16 |",
      "| 0.001 | 100% (9) | – | 0% (1) | r=4 |",
    ].join("\n"),
  );
});

test("equal wins go to the trial trained further; a row with no trial has no best rank", () => {
  // Both lose nothing to each other: equal exact match and loss at rung 0 (a tie, half a win each); r=64 went on.
  const state = ashaState([
    [4, 1e-3, [[0, 1.0]]],
    [
      64,
      1e-3,
      [
        [0, 1.0],
        [0.7, 0.3],
      ],
    ],
  ]);
  const t = rankLrTable(state, [4, 64], [1e-4, 1e-3]);
  assert.deepEqual(t.bestRank, [null, 64]);
  assert.deepEqual(t.cells[0], [null, null]);
});

test("each rank's best rate: its trial that reached the highest rung, the best there", () => {
  const state = ashaState([
    // r=64: 1e-4 went furthest (the rank's contender), though 1e-3 had the lower loss at rung 0.
    [
      64,
      1e-4,
      [
        [0, 1.5],
        [0.6, 0.4],
        [0.95, 0.25],
      ],
    ],
    [64, 1e-3, [[0, 1.0]]],
    // r=4: two trials at rung 1; the better exact match wins over the lower loss.
    [
      4,
      1e-3,
      [
        [0, 0.9],
        [0.5, 0.5],
      ],
    ],
    [
      4,
      3e-3,
      [
        [0, 0.8],
        [0.4, 0.3],
      ],
    ],
  ]);
  const bests = rankBests(state, [4, 16, 64]);
  assert.deepEqual(bests, [
    { rank: 4, lr: 1e-3, trial: "t002", exactMatch: 0.5, steps: 3 },
    { rank: 64, lr: 1e-4, trial: "t000", exactMatch: 0.95, steps: 9 },
  ]);
  assert.equal(rankBestsText(bests), "r=4: lr 0.001, 50% (3 steps); r=64: lr 0.0001, 95% (9 steps)");
});
