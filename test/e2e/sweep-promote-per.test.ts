/**
 * loratune sweep --promote-per rank on the demo model, scaled down (9-step trials, rungs 1, 3, 9): every rank trains
 * one trial to the last rung, the sweep spends exactly the steps it announces, and a sweep killed (the whole process
 * group, children included) and resumed gives the same trial table as one run uninterrupted.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { generateTask } from "../../src/demo/task.ts";
import type { SweepState } from "../../src/sweep/state.ts";
import { BIN, cliOk } from "../helpers/cli.ts";

const work = mkdtempSync(join(tmpdir(), "loratune-sweep-per-"));
after(() => rmSync(work, { recursive: true, force: true }));
const task = generateTask({ seed: 3, trainSize: 48, testSize: 4 });
mkdirSync(join(work, "data"));
const jsonl = (rows: readonly object[]) => `${rows.map((r) => JSON.stringify(r)).join("\n")}\n`;
const trainPath = join(work, "data", "train.jsonl");
const testPath = join(work, "data", "test.jsonl");
writeFileSync(trainPath, jsonl(task.train));
writeFileSync(testPath, jsonl(task.test));

const args = (out: string) => [
  ...["sweep", "--model", "demo", "--data", trainPath, "--val", testPath, "--out", out],
  ...["--steps", "9", "--min-steps", "1", "--eval-every", "1", "--concurrency", "2", "--promote-per", "rank"],
  ...["--rank", "2,8", "--lr", "1e-3,5e-3,2e-2", "--alpha", "2r", "--targets", "all-linear"],
  ...["--batch-size", "4", "--seq-len", "64", "--metric", "exact-match"],
];

const stateOf = (dir: string) => JSON.parse(readFileSync(join(dir, "sweep.json"), "utf8")) as SweepState;
/** What must not change: each trial's settings, and each job with its evaluation. */
const table = (s: SweepState) => ({
  trials: s.trials,
  jobs: s.jobs.map((j) => [j.trial, j.rung, j.fromStep, j.toStep, j.status, j.result?.valLoss, j.result?.exactMatch]),
});

test("promoted per rank, a killed and resumed sweep gives the same trial table; each rank reaches the last rung", async () => {
  const whole = join(work, "whole");
  const r = cliOk(...args(whole));
  // 6 trials × 1 step, then each rank's best from step 1 to 9.
  assert.match(r.stdout, /^sweep: asha, rungs 1, 3, 9 steps, promoted per rank \(plan: 22 steps\), budget 36 steps/m);
  const full = stateOf(whole);
  assert.equal(full.status, "completed");
  assert.equal(
    full.jobs.reduce((n, j) => n + j.toStep - j.fromStep, 0),
    22,
  );
  const top = full.jobs.filter((j) => j.rung === 2).map((j) => full.trials[j.trial]!.config.rank);
  assert.deepEqual(top.sort(), [2, 8]);

  const killed = join(work, "killed");
  const child = spawn(process.execPath, [BIN, ...args(killed)], { detached: true, stdio: "ignore" });
  const exited = new Promise((resolve) => child.on("exit", resolve));
  for (let i = 0; i < 600; i++) {
    await new Promise((resolve) => setTimeout(resolve, 100));
    if (existsSync(join(killed, "sweep.json")) && stateOf(killed).jobs.filter((j) => j.status === "done").length >= 3)
      break;
  }
  process.kill(-child.pid!, "SIGKILL");
  await exited;
  assert.equal(stateOf(killed).status, "running", "the kill came before the end");
  cliOk("sweep", "--resume", killed);
  assert.deepEqual(table(stateOf(killed)), table(full));
});
