/**
 * `loratune train` refuses, before loading any weight, a run whose memory estimate exceeds the memory available
 * (here made small with LORATUNE_MEMORY_LIMIT): exit 1, one line naming the estimate, the memory and what would
 * help, and no run directory. --no-memory-check trains anyway.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { BIN, GOLDEN } from "../helpers/cli.ts";

const TINY = join(GOLDEN, "models", "tiny");
const DATA = join(GOLDEN, "train", "data.jsonl");
const work = mkdtempSync(join(tmpdir(), "loratune-memory-"));

function train(out: string, limit: string, ...more: string[]) {
  const args = ["train", "--model", TINY, "--data", DATA, "--out", out, "--steps", "1", "--seq-len", "16", ...more];
  return spawnSync(process.execPath, [BIN, ...args], {
    encoding: "utf8",
    env: { ...process.env, LORATUNE_MEMORY_LIMIT: limit },
  });
}

test("train: a run over LORATUNE_MEMORY_LIMIT is refused before loading, in one line", () => {
  const out = join(work, "refused");
  const r = train(out, "1M");
  assert.equal(r.status, 1, r.stderr);
  const lines = r.stderr.trim().split("\n");
  assert.equal(lines.length, 1, r.stderr);
  assert.match(lines[0]!, /training would need about \d+ MiB \(estimate: weights /);
  assert.match(lines[0]!, /but 1 MiB is available \(LORATUNE_MEMORY_LIMIT\)/);
  assert.match(lines[0]!, /--quantize q4_k, --grad-checkpoint, a smaller --batch-size \(4\) or --seq-len \(16\)/);
  assert.match(lines[0]!, /--no-memory-check to try anyway/);
  assert.equal(existsSync(out), false, "nothing is written");
});

test("train --no-memory-check trains anyway", () => {
  const out = join(work, "anyway");
  const r = train(out, "1M", "--no-memory-check");
  assert.equal(r.status, 0, r.stderr);
  assert.ok(existsSync(join(out, "adapter_model.safetensors")));
});
