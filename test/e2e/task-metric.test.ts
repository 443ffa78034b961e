/** --metric exact-match through train (metrics.jsonl, report) and eval (--json), on the demo model and task. */
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { writeTaskDataset } from "../../src/demo/task-files.ts";
import { cli, cliOk } from "../helpers/cli.ts";

const work = mkdtempSync(join(tmpdir(), "loratune-metric-"));
const data = await writeTaskDataset(join(work, "data"), { seed: 3, trainSize: 32, testSize: 6 });

test("train --metric exact-match logs exact match and token accuracy at each evaluation", () => {
  const out = join(work, "run");
  cliOk(
    "train",
    ...["--model", "demo", "--data", data.trainPath, "--val", data.testPath, "--out", out],
    ...["--steps", "4", "--eval-every", "2", "--batch-size", "4", "--seq-len", "64", "--metric", "exact-match"],
  );
  const evals = readFileSync(join(out, "metrics.jsonl"), "utf8")
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l) as Record<string, number | string>)
    .filter((row) => row.type === "eval");
  assert.deepEqual(
    evals.map((e) => e.step),
    [2, 4],
  );
  for (const e of evals) {
    assert.ok(typeof e.exact_match === "number" && e.exact_match >= 0 && e.exact_match <= 1);
    assert.ok(typeof e.token_accuracy === "number" && e.token_accuracy >= 0 && e.token_accuracy <= 1);
  }
  const report = readFileSync(join(out, "report.html"), "utf8");
  assert.match(report, /best exact match/);
  assert.match(report, /aria-label="Task metric"/);
  assert.match(readFileSync(join(out, "config.yaml"), "utf8"), /^metric: exact-match$/m);
});

test("eval --metric exact-match --json adds exact_match, token_accuracy and scored_rows", () => {
  const r = cliOk("eval", "--model", "demo", "--data", data.testPath, "--metric", "exact-match", "--json");
  const o = JSON.parse(r.stdout) as Record<string, number>;
  assert.equal(o.scored_rows, 6);
  assert.equal(o.exact_match, 0, "the base model cannot do the task");
  assert.ok(o.token_accuracy! >= 0 && o.token_accuracy! < 1);
});

test("--metric exact-match refuses rows without a prompt, and a run without validation rows", () => {
  const text = join(work, "text.jsonl");
  writeFileSync(text, '{"text": "Mira lives in Oakford."}\n');
  const e = cli("eval", "--model", "demo", "--data", text, "--metric", "exact-match");
  assert.equal(e.code, 2);
  assert.match(e.stderr, /text\.jsonl holds "text" rows/);
  const t = cli("train", "--model", "demo", "--data", data.trainPath, "--out", join(work, "nv"), "--steps", "1");
  assert.equal(t.code, 0);
  const m = cli(
    ...["train", "--model", "demo", "--data", data.trainPath, "--out", join(work, "nv2"), "--steps", "1"],
    ...["--metric", "exact-match"],
  );
  assert.equal(m.code, 2);
  assert.match(m.stderr, /--metric exact-match scores the validation rows: give --val FILE or --val-split/);
});
