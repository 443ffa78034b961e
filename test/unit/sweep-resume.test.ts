/**
 * `sweep --resume DIR` with other options, on a hand-made sweep.json (no training): an option that would change the
 * sweep is refused with its name and both values; options that cannot (--json, --memory-check, the sweep's own
 * values, automatic values that resolve to the sweep's) pass, and the sweep goes on (its trials still to run with
 * the --memory-check given). A resume counts the wall time before the stop against --time-budget.
 */
import assert from "node:assert/strict";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { validateOptions } from "../../src/api/options.ts";
import { SWEEP_OPTIONS } from "../../src/cli/sweep.ts";
import { resumeConflicts } from "../../src/sweep/resume-check.ts";
import { readState, type SweepState, writeState } from "../../src/sweep/state.ts";
import { resumeSweep } from "../../src/sweep/sweep.ts";
import { cli } from "../helpers/cli.ts";

const dir = mkdtempSync(join(tmpdir(), "loratune-sweep-resume-"));

const result = {
  valLoss: 1,
  exactMatch: 0,
  tokensPerS: 1,
  peakRssMb: 1,
  trainableParams: 1,
  adapterBytes: 1,
  wallS: 1,
};
/** Two first-rung jobs use the whole budget: a resume finds nothing left to run. */
const state: SweepState = {
  version: 1,
  status: "completed",
  trials: [
    { id: 0, name: "t000", config: { rank: 4, lr: 0.001 } },
    { id: 1, name: "t001", config: { rank: 64, lr: 0.0003 } },
  ],
  jobs: [0, 1].map((t) => ({ id: t, trial: t, rung: 0, fromStep: 0, toStep: 1, status: "done", result })),
  settings: {
    strategy: "asha",
    space: { rank: "4,64", lr: "0.0001..0.01:log" },
    train: { model: "demo", data: "/abs/train.jsonl", val: "/abs/val.jsonl", "batch-size": 4, seed: 0 },
    maxSteps: 9,
    rungs: [1, 3, 9],
    eta: 3,
    evalEvery: 1,
    budget: 2,
    maxTrials: 10_000,
    metric: "exact-match",
    seed: 0,
    concurrency: 2,
    threads: 1,
  },
};
writeState(dir, state);

/** The conflicts of flags given as the command line gives them (text, checked against the table). */
const conflicts = (given: Record<string, string | boolean>) =>
  resumeConflicts(dir, state, validateOptions(SWEEP_OPTIONS, { resume: dir, ...given }), SWEEP_OPTIONS);

test("options that cannot change the sweep pass with --resume", () => {
  assert.deepEqual(
    conflicts({
      json: true,
      "memory-check": false,
      out: dir,
      rank: "4, 64",
      lr: "1e-4..1e-2",
      steps: "9",
      "eval-every": "1",
      "min-steps": "0",
      budget: "2",
      "time-budget": "0",
      seed: "0",
      data: "/abs/../abs/train.jsonl",
      "batch-size": "4",
      overwrite: false,
    }),
    [],
  );
  // --min-steps 1 lays out the same rungs as the automatic value did.
  assert.deepEqual(conflicts({ "min-steps": "1", trials: "0" }), []);
});

test("options that would change the sweep are refused, each with both values", () => {
  assert.deepEqual(
    conflicts({
      strategy: "random",
      rank: "4,8",
      dropout: "0,0.1",
      "min-steps": "2",
      budget: "0",
      "time-budget": "5",
      concurrency: "1",
      "batch-size": "8",
      model: "/models/other",
      config: "x.yaml",
      overwrite: true,
      out: "/elsewhere",
    }),
    [
      `--out: the sweep is ${dir}, this command says /elsewhere (--resume continues the sweep in its own directory)`,
      `--overwrite: --resume continues ${dir}, it never replaces it`,
      `--config: the sweep keeps the settings in ${dir}/sweep.json; a config file is read by a new sweep only`,
      "--strategy: the sweep used asha, this command says random",
      "--min-steps: the sweep used rungs 1, 3, 9, this command says rungs 3, 9",
      "--budget: the sweep used 2, this command says 36",
      "--time-budget: the sweep used 0, this command says 5",
      "--concurrency: the sweep used 2, this command says 1",
      "--rank: the sweep used 4,64, this command says 4,8",
      "--dropout: the sweep used (not searched), this command says 0,0.1",
      "--model: the sweep used demo, this command says /models/other",
      "--batch-size: the sweep used 4, this command says 8",
    ],
  );
});

test("loratune sweep --resume refuses a changed flag before running, and goes on with --json", () => {
  const refused = cli("sweep", "--resume", dir, "--rank", "4,16", "--lr", "1e-4..1e-2:log", "--json");
  assert.equal(refused.code, 2, refused.stderr);
  assert.match(refused.stderr, /--resume .* continues the sweep with its own settings \(sweep\.json\); these differ:/);
  assert.match(refused.stderr, /--rank: the sweep used 4,64, this command says 4,16\n/);
  assert.doesNotMatch(refused.stderr, /--lr:|--json:/);

  const ok = cli("sweep", "--resume", dir, "--json", "--rank", "4,64", "--no-memory-check");
  assert.equal(ok.code, 0, ok.stderr);
  const data = JSON.parse(ok.stdout) as { trials: { trial: string }[] };
  assert.deepEqual(
    data.trials.map((t) => t.trial),
    ["t000", "t001"],
  );
  // The trials still to run take --no-memory-check.
  assert.equal(readState(dir).settings.train["memory-check"], false);
});

test("a resumed sweep counts the wall time spent before the stop against --time-budget", async () => {
  // A sweep stopped after 2 minutes with budget steps left and a 2-minute time budget: the resume starts no job.
  const timed = mkdtempSync(join(tmpdir(), "loratune-sweep-timed-"));
  const stopped: SweepState = {
    ...state,
    status: "running",
    elapsedS: 120,
    settings: { ...state.settings, budget: 100, timeBudgetMin: 2 },
  };
  writeState(timed, stopped);
  const resumed = await resumeSweep(timed);
  assert.equal(resumed.jobs.length, 2, "no job started");
  assert.equal(resumed.status, "completed");
  assert.ok(readState(timed).elapsedS! >= 120, "the time before the stop is kept");
});
