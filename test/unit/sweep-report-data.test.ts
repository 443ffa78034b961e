/**
 * The sweep report's data from hand-made sweep states (no training): the rank × learning-rate heat map, the marginal
 * effects (pairs compared at the highest rung both reached, the validation loss breaking ties of the goal metric),
 * the best trial (goal metric, then validation loss) and the recommendation's command line, parsed back through
 * train's option table.
 */
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { Command } from "commander";
import { missingRequired, validateOptions, withDefaults } from "../../src/api/options.ts";
import { TRAIN_OPTIONS } from "../../src/api/train-options.ts";
import { addOptions, givenValues } from "../../src/cli/options.ts";
import { renderSweepReport } from "../../src/report/sweep-report.ts";
import { bestTrial, EFFECTS_RULE, marginalEffects, sweepReportData } from "../../src/sweep/report-data.ts";
import type { TrialConfig } from "../../src/sweep/space.ts";
import type { Job, SweepState } from "../../src/sweep/state.ts";

/** One trial: its settings and, per rung reached, [exact match, validation loss]. */
type Spec = [TrialConfig, [number, number][]];

function stateOf(specs: Spec[], o: { metric: "loss" | "exact-match"; space: Record<string, string>; rungs: number[] }) {
  const jobs: Job[] = [];
  for (const [t, [, results]] of specs.entries()) {
    for (const [rung, [em, vl]] of results.entries()) {
      jobs.push({
        id: jobs.length,
        trial: t,
        rung,
        fromStep: rung === 0 ? 0 : o.rungs[rung - 1]!,
        toStep: o.rungs[rung]!,
        status: "done",
        result: {
          valLoss: vl,
          ...(o.metric === "exact-match" ? { exactMatch: em } : {}),
          tokensPerS: 100,
          peakRssMb: 50,
          trainableParams: 1000,
          adapterBytes: 4000,
          wallS: 1,
        },
      });
    }
  }
  const state: SweepState = {
    version: 1,
    status: "completed",
    trials: specs.map(([config], id) => ({ id, name: `t${String(id).padStart(3, "0")}`, config })),
    jobs,
    settings: {
      strategy: o.rungs.length > 1 ? "asha" : "random",
      space: o.space,
      train: { model: "demo", data: "/data/my set/train.jsonl", val: "/data/val.jsonl", "batch-size": 4 },
      maxSteps: o.rungs.at(-1)!,
      rungs: o.rungs,
      eta: 3,
      evalEvery: 1,
      budget: 100,
      maxTrials: specs.length,
      metric: o.metric,
      seed: 0,
      concurrency: 1,
      threads: 1,
    },
  };
  return state;
}

/**
 * ASHA, exact match. Exact match is 0 for every trial at the first rung, so only the validation loss tells the
 * first rung apart. t0 and t1 meet again at the last rung, where t1 wins (equal exact match, lower loss) although
 * t0 had the lower loss at the first rung.
 */
const ASHA: Spec[] = [
  [
    { rank: 4, lr: 1e-3, alpha: "2r" },
    [
      [0, 0.9],
      [0.5, 0.5],
      [1, 0.2],
    ],
  ],
  [
    { rank: 64, lr: 1e-3, alpha: "2r" },
    [
      [0, 1.0],
      [0.5, 0.6],
      [1, 0.1],
    ],
  ],
  [{ rank: 4, lr: 1e-4, alpha: "2r" }, [[0, 2.0]]],
  [{ rank: 64, lr: 1e-4, alpha: "2r" }, [[0, 1.5]]],
];
const asha = () =>
  stateOf(ASHA, { metric: "exact-match", space: { rank: "4,64", lr: "0.0001,0.001", alpha: "2r" }, rungs: [1, 3, 9] });

test("marginal effects compare each pair of trials at the highest rung both reached, loss breaking metric ties", () => {
  const effects = marginalEffects(asha());
  // alpha has one value: no effect to show.
  assert.deepEqual(
    effects.map((e) => e.setting),
    ["lr", "rank"],
  );
  const [lr, rank] = effects;
  // Every 1e-3 trial beats every 1e-4 trial (at rung 0 exact match ties at 0; the loss decides).
  assert.deepEqual(lr!.levels, [
    { value: "0.001", winRate: 1, trials: 2 },
    { value: "0.0001", winRate: 0, trials: 2 },
  ]);
  assert.equal(lr!.spread, 1);
  // rank 64 wins t1–t0 (at rung 2, not rung 0), t1–t2 and t3–t2, loses t3–t0: 3 of 4.
  assert.deepEqual(rank!.levels, [
    { value: "4", winRate: 0.25, trials: 2 },
    { value: "64", winRate: 0.75, trials: 2 },
  ]);
  assert.equal(rank!.spread, 0.5);
});

test("the goal metric decides a pair before the validation loss does", () => {
  // t4 (rank 4) stops at rung 1 with a better exact match than t1 (rank 64) there, but a worse loss.
  const specs: Spec[] = [
    ...ASHA,
    [
      { rank: 4, lr: 1e-3, alpha: "2r" },
      [
        [0, 1.1],
        [0.75, 0.9],
      ],
    ],
  ];
  const state = stateOf(specs, { metric: "exact-match", space: { rank: "4,64" }, rungs: [1, 3, 9] });
  const rank = marginalEffects(state)[0]!;
  // rank 4: t0 1 of 2, t2 0 of 2, t4 beats t1 (rung 1: exact match 0.75 > 0.5, though its loss is worse) and t3
  // (rung 0: loss 1.1 < 1.5). Had the loss decided t4–t1, rank 4 would win 2 of 6.
  assert.deepEqual(
    rank.levels.find((l) => l.value === "4"),
    { value: "4", winRate: 3 / 6, trials: 3 },
  );
});

test("the best trial: the goal metric at the highest rung, then the validation loss", () => {
  const state = asha();
  assert.equal(bestTrial(state)?.name, "t001", "equal exact match: the lower loss");
  const job = state.jobs.find((j) => j.trial === 1 && j.rung === 2)!;
  job.result = { ...job.result!, exactMatch: 0.9 };
  assert.equal(bestTrial(state)?.name, "t000", "the higher exact match, whatever the loss");
  assert.equal(bestTrial({ ...state, jobs: [] }), null);
});

test("the report data: rows, heat map, rule and a recommendation whose command train accepts", () => {
  const d = sweepReportData("/sweeps/a", asha());
  assert.deepEqual(
    d.trials.map((t) => [t.trial, t.status, t.steps, t.metric]),
    [
      ["t000", "completed", 9, 1],
      ["t001", "completed", 9, 1],
      ["t002", "pruned", 1, 0],
      ["t003", "pruned", 1, 0],
    ],
  );
  assert.deepEqual(d.trials[1]!.settings, { rank: 64, lr: 1e-3, alpha: 128 });
  assert.equal(d.stepsUsed, 2 * 9 + 2 * 1);
  assert.deepEqual(d.heatmap, {
    rows: ["4", "64"],
    columns: ["0.0001", "0.001"],
    cells: [
      [0, 1],
      [0, 1],
    ],
  });
  assert.equal(d.effectsRule, EFFECTS_RULE);
  assert.equal(d.recommendation.trial, "t001");
  assert.match(d.recommendation.text, /^Best: t001 \(rank 64, lr 0\.001, alpha 128\) with exact match 100\.0%/);
  assert.match(d.recommendation.text, /What mattered most: lr \(trials with lr 0\.001 won 100% /);

  const tokens = shellWords(d.recommendation.command);
  assert.deepEqual(tokens.slice(0, 2), ["loratune", "train"]);
  const cmd = addOptions(new Command("train").exitOverride(), TRAIN_OPTIONS, { deferred: true });
  cmd.parse(tokens.slice(2), { from: "user" });
  const given = validateOptions(TRAIN_OPTIONS, givenValues(cmd, TRAIN_OPTIONS));
  assert.deepEqual(missingRequired(TRAIN_OPTIONS, withDefaults(TRAIN_OPTIONS, given)), []);
  assert.deepEqual(
    {
      model: given.model,
      data: given.data,
      val: given.val,
      rank: given.rank,
      lr: given.lr,
      alpha: given.alpha,
      steps: given.steps,
      metric: given.metric,
      "eval-every": given["eval-every"],
      out: given.out,
    },
    {
      model: "demo",
      data: "/data/my set/train.jsonl",
      val: "/data/val.jsonl",
      rank: 64,
      lr: 1e-3,
      alpha: 128,
      steps: 9,
      metric: "exact-match",
      "eval-every": 1,
      out: "runs/best",
    },
  );
});

test("the heat map bins a learning-rate range in three log-width bins and keeps each cell's best", () => {
  const lrs = [1e-4, 2e-4, 1e-3, 2e-3, 5e-3, 1e-2];
  const specs: Spec[] = lrs.flatMap((lr, i) => [
    [{ rank: 4, lr }, [[0, 2 - i * 0.1]]] as Spec,
    [{ rank: 16, lr }, [[0, 1 + i * 0.1]]] as Spec,
  ]);
  const d = sweepReportData(
    "/s",
    stateOf(specs, { metric: "loss", space: { rank: "4,16", lr: "1e-4..1e-2:log" }, rungs: [9] }),
  );
  assert.deepEqual(d.heatmap!.rows, ["4", "16"]);
  assert.deepEqual(d.heatmap!.columns, ["0.0001–0.00046", "0.00046–0.0022", "0.0022–0.01"]);
  const cells = d.heatmap!.cells.map((r) => r.map((v) => Number(v!.toFixed(6))));
  // Loss: lower is better; rank 4 improves with the rate, rank 16 gets worse.
  assert.deepEqual(cells, [
    [1.9, 1.7, 1.5],
    [1, 1.2, 1.4],
  ]);
  // Same bins for the effects; rank 16 wins 35 of the 36 cross-rank pairs and ties one (both 1.5).
  const byKey = Object.fromEntries(d.effects.map((e) => [e.setting, e]));
  assert.deepEqual(
    byKey.lr!.levels.map((l) => [l.value, l.trials]),
    d.heatmap!.columns.map((c) => [c, 4]),
  );
  assert.equal(byKey.rank!.levels.find((l) => l.value === "16")!.winRate, 35.5 / 36);
});

test("the curves: each trial's goal metric at every evaluation of its run, a pruned trial's too; the wall time", () => {
  const dir = mkdtempSync(join(tmpdir(), "loratune-sweep-curves-"));
  const evalRow = (step: number, loss: number, em: number) =>
    JSON.stringify({ type: "eval", step, val_loss: loss, exact_match: em, token_accuracy: em });
  const write = (name: string, rows: string[]) => {
    mkdirSync(join(dir, "trials", name), { recursive: true });
    writeFileSync(join(dir, "trials", name, "metrics.jsonl"), `${rows.join("\n")}\n`);
  };
  // t000 ran to step 9; t002 was pruned at step 1 (a resumed job repeats an evaluation: the last one counts);
  // t001 and t003 have no metrics file (a trial whose run directory is gone).
  write("t000", [evalRow(1, 0.9, 0), JSON.stringify({ type: "step", step: 2, loss: 1 }), evalRow(3, 0.5, 0.5)]);
  writeFileSync(join(dir, "trials", "t000", "metrics.jsonl"), `${evalRow(9, 0.2, 1)}\n`, { flag: "a" });
  write("t002", [evalRow(1, 2.5, 0), evalRow(1, 2.0, 0.25)]);
  const state = asha();
  state.elapsedS = 125;
  state.settings.timeBudgetMin = 3;
  const d = sweepReportData(dir, state);
  assert.deepEqual(d.curves, [
    { trial: "t000", steps: [1, 3, 9], values: [0, 0.5, 1] },
    { trial: "t001", steps: [], values: [] },
    { trial: "t002", steps: [1], values: [0.25] },
    { trial: "t003", steps: [], values: [] },
  ]);
  const byLoss = sweepReportData(dir, { ...state, settings: { ...state.settings, metric: "loss" } });
  assert.deepEqual(byLoss.curves[0]!.values, [0.9, 0.5, 0.2]);
  assert.equal(d.elapsedS, 125);
  assert.equal(d.timeBudgetMin, 3);
  assert.equal(sweepReportData(dir, asha()).elapsedS, 0, "a sweep.json from before the wall time was kept");
});

/** Splits a command line at spaces, reading "double-quoted" words as JSON strings. */
function shellWords(line: string): string[] {
  const words: string[] = [];
  for (const m of line.matchAll(/"(?:[^"\\]|\\.)*"|\S+/g)) words.push(m[0].startsWith('"') ? JSON.parse(m[0]) : m[0]);
  return words;
}

test("a sweep promoted per rank says so in its data and on the report's strategy card", () => {
  const plain = asha();
  assert.equal(sweepReportData("/s", plain).promotePer, null);
  assert.doesNotMatch(renderSweepReport(sweepReportData("/s", plain)), /promoted per/);
  const perRank: SweepState = { ...plain, settings: { ...plain.settings, promotePer: "rank" } };
  const data = sweepReportData("/s", perRank);
  assert.equal(data.promotePer, "rank");
  assert.match(renderSweepReport(data), /rungs 1, 3, 9, promoted per rank/);
});
