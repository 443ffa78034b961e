/**
 * A short `loratune demo` run (few steps, few held-out examples): the base model scores 0 on the task, the
 * adapter gets fields right that the base model never does, and merged outputs equal unmerged ones.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { runDemo } from "../../src/demo/run-demo.ts";

test("a short demo run improves the held-out metric and merges exactly", async () => {
  const out = join(mkdtempSync(join(tmpdir(), "loratune-demo-test-")), "run");
  const lines: string[] = [];
  const r = await runDemo({
    out,
    seed: 7,
    steps: 300,
    trainSize: 1000,
    testSize: 12,
    rank: 16,
    lr: 1e-3,
    batchSize: 8,
    say: (t) => lines.push(t),
  });
  assert.equal(r.before, 0, "the base model cannot do the task");
  const mean = (f: Record<string, number>) => Object.values(f).reduce((a, b) => a + b, 0) / 4;
  assert.ok(
    mean(r.fieldsAfter) >= mean(r.fieldsBefore) + 0.4,
    `fields before ${JSON.stringify(r.fieldsBefore)} after ${JSON.stringify(r.fieldsAfter)}`,
  );
  assert.ok(r.mergedIdentical, "merged and unmerged outputs are identical");
  assert.ok(lines.some((l) => l.includes("held-out exact match before training")));
  rmSync(join(out, ".."), { recursive: true, force: true });
});
