/**
 * loratune sweep on the demo model, scaled down: an ASHA sweep killed (the whole process group, children
 * included) and resumed gives the same trial table as one run uninterrupted; the report and --json carry the data.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { writeTaskDataset } from "../../src/demo/task-files.ts";
import type { SweepState } from "../../src/sweep/state.ts";
import { BIN, cli, cliOk } from "../helpers/cli.ts";

const work = mkdtempSync(join(tmpdir(), "loratune-sweep-"));
const data = await writeTaskDataset(join(work, "data"), { seed: 3, trainSize: 48, testSize: 4 });
const args = (out: string) => [
  ...["sweep", "--model", "demo", "--data", data.trainPath, "--val", data.testPath, "--out", out],
  ...["--steps", "9", "--min-steps", "1", "--eval-every", "1", "--budget", "24", "--concurrency", "2"],
  ...["--rank", "2,8", "--lr", "1e-3..2e-2:log", "--alpha", "2r", "--targets", "all-linear"],
  ...["--batch-size", "4", "--seq-len", "64", "--metric", "exact-match"],
];

const stateOf = (dir: string) => JSON.parse(readFileSync(join(dir, "sweep.json"), "utf8")) as SweepState;
/** What must not change: each trial's settings, and each job with its evaluation. */
const table = (s: SweepState) => ({
  trials: s.trials,
  jobs: s.jobs.map((j) => [j.trial, j.rung, j.fromStep, j.toStep, j.status, j.result?.valLoss, j.result?.exactMatch]),
});

test("a killed and resumed ASHA sweep gives the same trial table as an uninterrupted one", async () => {
  const whole = join(work, "whole");
  const r = cliOk(...args(whole), "--json");
  const printed = JSON.parse(r.stdout) as { trials: { status: string }[]; recommendation: { command: string } };
  const full = stateOf(whole);
  assert.equal(full.status, "completed");
  assert.ok(
    full.jobs.some((j) => j.rung === 2),
    "some trial reached the last rung",
  );
  assert.ok(
    printed.trials.some((t) => t.status === "pruned"),
    "some trial was pruned",
  );
  assert.match(printed.recommendation.command, /^loratune train --model demo .*--out runs\/best$/);
  const report = readFileSync(join(whole, "report.html"), "utf8");
  for (const part of ["Trials", "Validation curves", "Rank × learning rate", "Recommendation"])
    assert.ok(report.includes(part), part);
  // Pruned trials keep their run directory and curve.
  for (const t of full.trials) assert.ok(existsSync(join(whole, "trials", t.name, "metrics.jsonl")), t.name);

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
  const before = stateOf(killed);
  assert.equal(before.status, "running", "the kill came before the end");
  cliOk("sweep", "--resume", killed);
  assert.deepEqual(table(stateOf(killed)), table(full));
});

test("sweep refuses an unknown sweep: setting in the config file by name", () => {
  const cfg = join(work, "bad.yaml");
  writeFileSync(cfg, `model: demo\ndata: ${data.trainPath}\nval: ${data.testPath}\nsweep:\n  rnak: [4, 16]\n`);
  const r = cli("sweep", "--config", cfg, "--out", join(work, "bad"));
  assert.equal(r.code, 2);
  assert.match(r.stderr, /sweep: unknown setting "rnak" \(did you mean "rank"\?\)/);
});

test("a searchable setting given as a plain train key in the config file (rank: 4) is shared by every trial", () => {
  const cfg = join(work, "shared.yaml");
  const lines = [`model: demo`, `data: ${data.trainPath}`, `val: ${data.testPath}`, "rank: 4", "seq-len: 64"];
  writeFileSync(cfg, `${lines.join("\n")}\nsweep:\n  lr: [1e-3, 2e-3]\n`);
  const out = join(work, "shared");
  cliOk("sweep", "--config", cfg, "--out", out, "--steps", "1", "--strategy", "grid", "--concurrency", "1");
  const s = stateOf(out);
  assert.equal(s.trials.length, 2);
  for (const t of s.trials) {
    assert.deepEqual(Object.keys(t.config), ["lr"]);
    const runConfig = readFileSync(join(out, "trials", t.name, "config.yaml"), "utf8");
    assert.match(runConfig, /^rank: 4$/m);
  }
});
