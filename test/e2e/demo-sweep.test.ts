/**
 * `loratune demo --sweep` end to end at 2 steps a trial (the plumbing, not the figures: a 2-step trial learns
 * nothing): the sweep keeps to 4 standard runs' steps, read from its trial table; the printed rank × learning-rate
 * table has a row per rate and holds every trial; the report is written. And --sweep is refused with --compare or
 * --dpo before anything is written.
 */
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { DEMO_SWEEP_SPACE } from "../../src/demo/sweep-demo.ts";
import type { SweepState } from "../../src/sweep/state.ts";
import { cli, cliOk } from "../helpers/cli.ts";

const work = mkdtempSync(join(tmpdir(), "loratune-demo-sweep-"));
after(() => rmSync(work, { recursive: true, force: true }));

test("demo --sweep keeps to 4 standard runs' steps and prints the rank × lr table with every trial", () => {
  const out = join(work, "demo");
  const r = cliOk("demo", "--sweep", "--steps", "2", "--out", out);
  const state = JSON.parse(readFileSync(join(out, "sweep", "sweep.json"), "utf8")) as SweepState;
  const steps = state.jobs.reduce((n, j) => n + (j.toStep - j.fromStep), 0);
  assert.ok(steps <= 4 * 2, `${steps} steps`);
  assert.ok(
    state.jobs.every((j) => j.status === "done"),
    "every job finished",
  );
  const rows = r.stdout.split("\n").filter((l) => /^\| [0-9][0-9.e-]* \|/.test(l));
  assert.deepEqual(
    rows.map((l) => Number(l.split("|")[1])),
    DEMO_SWEEP_SPACE.lr,
  );
  const cells = rows.flatMap((l) => l.split("|").slice(2, 5)).filter((c) => c.trim() !== "–");
  assert.equal(cells.length, state.trials.length);
  assert.match(r.stdout, /^\| lr \| r=4 \| r=16 \| r=64 \| best rank \|$/m);
  assert.match(r.stdout, new RegExp(`^steps used: ${steps} of 8 \\(4 standard runs of 2\\)$`, "m"));
  assert.ok(existsSync(join(out, "sweep", "report.html")));
});

test("demo --sweep runs on its own: with --compare or --dpo it is refused before anything is written", () => {
  for (const other of ["compare", "dpo"]) {
    const r = cli("demo", "--sweep", `--${other}`, "--out", join(work, "both"));
    assert.equal(r.code, 2);
    assert.equal(r.stderr.trim(), `loratune: demo: --sweep runs on its own, not with --${other}`);
    assert.equal(existsSync(join(work, "both")), false);
  }
});
