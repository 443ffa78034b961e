/**
 * The New run form's checks (src/ui/run-check.ts) on the demo model: each problem keyed to its field in train's
 * words (the option table, the output folder, the data, the LoRA targets, the memory check), and the estimate
 * (memory from train's plan, steps from the trainer's batch plan, time only given a measured tokens/s).
 */
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { checkRun } from "../../src/ui/run-check.ts";

const work = mkdtempSync(join(tmpdir(), "lt-ui-check-"));
after(() => rmSync(work, { recursive: true, force: true }));
const data = join(work, "data.jsonl");
writeFileSync(
  data,
  Array.from({ length: 10 }, (_, i) => JSON.stringify({ prompt: `Q${i}?`, completion: ` A${i}.` })).join("\n"),
);
const base = { model: "demo", data, "batch-size": "2" };

test("valid settings: no errors, the memory estimate, steps from the batch plan, no time without a speed", () => {
  const r = checkRun({ ...base, epochs: "2" }, join(work, "out"), null);
  assert.deepEqual(r.errors, {});
  assert.ok(r.estimate!.memory!.totalBytes > r.estimate!.memory!.weightBytes);
  assert.equal(r.estimate!.steps, 10); // 10 rows, 2 per step, 2 epochs
  assert.equal(r.estimate!.seconds, null);
  assert.deepEqual(r.args, ["--model", "demo", "--data", data, "--epochs", "2", "--batch-size", "2"]);
  const timed = checkRun({ ...base, steps: "4" }, join(work, "out"), 100);
  assert.equal(timed.estimate!.seconds, (4 * timed.estimate!.tokensPerStep!) / 100);
});

test("each problem is keyed to its field, worded as train words it", () => {
  const r = checkRun({ ...base, rank: "0", dropout: "1", "lr-schedule": "zigzag" }, join(work, "out"), null);
  assert.equal(r.errors.rank, '--rank: must be at least 1 (got "0")');
  assert.equal(r.errors.dropout, '--dropout: must be below 1 (got "1")');
  assert.match(r.errors["lr-schedule"]!, /^--lr-schedule: expected one of /);
  assert.equal(r.estimate, null);
  const targets = checkRun({ ...base, targets: "nope_proj" }, join(work, "out"), null);
  assert.match(targets.errors.targets!, /nope_proj/);
  const missing = checkRun({ ...base, data: join(work, "missing.jsonl") }, join(work, "out"), null);
  assert.match(missing.errors.data!, /missing\.jsonl/);
});

test("an output folder loratune did not write is refused as train refuses it", () => {
  const out = join(work, "taken");
  mkdirSync(out);
  writeFileSync(join(out, "notes.txt"), "mine");
  const r = checkRun(base, out, null);
  assert.match(r.errors.run!, /already exists and is not empty \(choose another directory\)/);
});

test("a run over the memory available is refused with train's message and remedies, unless --no-memory-check", () => {
  const saved = process.env.LORATUNE_MEMORY_LIMIT;
  process.env.LORATUNE_MEMORY_LIMIT = "1M";
  try {
    const r = checkRun(base, join(work, "out"), null);
    assert.match(
      r.errors.run!,
      /^training would need about .* but .* is available .*--grad-checkpoint.*--no-memory-check to try anyway$/,
    );
    assert.deepEqual(checkRun({ ...base, "memory-check": false }, join(work, "out"), null).errors, {});
  } finally {
    if (saved === undefined) delete process.env.LORATUNE_MEMORY_LIMIT;
    else process.env.LORATUNE_MEMORY_LIMIT = saved;
  }
});

test("preference tuning reads the data as pairs, as train does", () => {
  const r = checkRun({ ...base, method: "dpo" }, join(work, "out"), null);
  assert.match(r.errors.data!, /chosen|rejected/);
  const pairs = join(work, "pairs.jsonl");
  writeFileSync(pairs, `${JSON.stringify({ prompt: "Q?", chosen: " yes.", rejected: " no." })}\n`);
  assert.deepEqual(checkRun({ ...base, data: pairs, method: "dpo" }, join(work, "out"), null).errors, {});
});
