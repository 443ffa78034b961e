/** loratune lr-find on the demo model: the curve's files, the suggestion and its rule, and the output rules. */
import assert from "node:assert/strict";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { writeTaskDataset } from "../../src/demo/task-files.ts";
import { SUGGESTION_RULE } from "../../src/train/lr-range.ts";
import { cli, cliOk } from "../helpers/cli.ts";

const work = mkdtempSync(join(tmpdir(), "loratune-lrfind-"));
const data = await writeTaskDataset(join(work, "data"), { seed: 5, trainSize: 24, testSize: 2 });
const common = ["--model", "demo", "--data", data.trainPath, "--batch-size", "4", "--seq-len", "64"];

test("lr-find writes lr-find.json and lr-find.html and suggests the minimum's rate / 10", () => {
  const out = join(work, "lr");
  const r = cliOk("lr-find", ...common, "--steps", "12", "--start-lr", "1e-4", "--end-lr", "1", "--out", out, "--json");
  const printed = JSON.parse(r.stdout) as Record<string, unknown>;
  const saved = JSON.parse(readFileSync(join(out, "lr-find.json"), "utf8")) as typeof printed;
  assert.deepEqual(printed, saved);
  const points = saved.points as { lr: number; smoothed: number }[];
  assert.ok(points.length >= 2 && points.length <= 12);
  assert.equal(points[0]!.lr, 1e-4);
  const min = points.reduce((a, b) => (b.smoothed < a.smoothed ? b : a));
  assert.equal(saved.min_loss_lr, min.lr);
  assert.ok(Math.abs((saved.suggested_lr as number) - min.lr / 10) < 1e-12);
  assert.equal(saved.rule, SUGGESTION_RULE);
  assert.equal((saved.settings as Record<string, unknown>).rank, 8);
  assert.match(readFileSync(join(out, "lr-find.html"), "utf8"), /Loss against learning rate/);
  assert.equal(JSON.parse(readFileSync(join(out, "loratune.json"), "utf8")).kind, "lr-find");
  // A second test into the same folder needs --overwrite, and then replaces it.
  const again = cli("lr-find", ...common, "--steps", "2", "--out", out);
  assert.equal(again.code, 1);
  assert.match(again.stderr, /already exists and is not empty \(pass --overwrite/);
  cliOk("lr-find", ...common, "--steps", "2", "--out", out, "--overwrite");
  const points2 = JSON.parse(readFileSync(join(out, "lr-find.json"), "utf8")).points as unknown[];
  assert.equal(points2.length, 2);
});

test("lr-find refuses an end rate below the start rate and a folder loratune did not write", () => {
  const bad = cli("lr-find", ...common, "--start-lr", "1e-2", "--end-lr", "1e-3", "--out", join(work, "x"));
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /--end-lr \(0\.001\) must be greater than --start-lr \(0\.01\)/);
  assert.ok(!existsSync(join(work, "x")));
  const mine = join(work, "mine");
  mkdirSync(mine);
  writeFileSync(join(mine, "notes.txt"), "mine");
  const r = cli("lr-find", ...common, "--steps", "2", "--out", mine, "--overwrite");
  assert.equal(r.code, 1);
  assert.match(r.stderr, /not a directory loratune wrote/);
  assert.equal(readFileSync(join(mine, "notes.txt"), "utf8"), "mine");
});
