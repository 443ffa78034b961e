/**
 * Pruning old checkpoints (saveCheckpoint with keep) never leaves a torn one under its own name: each is renamed to a
 * hidden sibling before it is deleted (io/output-dir.ts removeDirAtomic), so a run killed mid-delete leaves at worst
 * that sibling, which no listing or resume takes and the next save removes. (A plain recursive delete removes the
 * tensors file by file: killed between two, it left a step-N with state.json but no optimizer.safetensors, which
 * --resume then picked and failed on.)
 */
import assert from "node:assert/strict";
import fs, { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { syncBuiltinESMExports } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { removeDirAtomic } from "../../src/io/output-dir.ts";
import type { TrainableParam } from "../../src/tensor/trainable.ts";
import { AdamW } from "../../src/train/adamw.ts";
import { listCheckpoints, resolveCheckpoint, saveCheckpoint, type TrainerState } from "../../src/train/checkpoint.ts";

const work = mkdtempSync(join(tmpdir(), "lt-prune-"));
after(() => rmSync(work, { recursive: true, force: true }));

const params: TrainableParam[] = [
  { name: "a", shape: [2, 3], data: new Float32Array(6).fill(0.5), grad: new Float32Array(6) },
];

function state(step: number): TrainerState {
  return { step, epoch: 0, index: step, rngState: 1, bestValLoss: null, evalsWithoutImprovement: 0, fingerprint: "f" };
}

test("removeDirAtomic: the directory and every trace of it are gone; a missing one is no error", () => {
  const dir = join(work, "gone");
  mkdirSync(join(dir, "sub"), { recursive: true });
  writeFileSync(join(dir, "sub", "x.bin"), "x");
  removeDirAtomic(dir);
  assert.equal(existsSync(dir), false);
  assert.deepEqual(
    readdirSync(work).filter((n) => n.includes("gone")),
    [],
  );
  removeDirAtomic(dir);
});

test("saveCheckpoint prunes by renaming first: the delete never runs on a checkpoint under its own name", (t) => {
  const root = join(work, "checkpoints");
  const opt = new AdamW(params);
  for (const step of [1, 2]) saveCheckpoint(root, params, opt, state(step), 2);
  // Record, for every recursive delete, whether a complete-looking checkpoint is what it deletes.
  const deletedListed: string[] = [];
  const realRm = fs.rmSync;
  t.mock.method(fs, "rmSync", (path: fs.PathLike, options?: fs.RmOptions) => {
    const name = String(path).slice(root.length + 1);
    if (String(path).startsWith(root) && listCheckpoints(root).includes(name)) deletedListed.push(name);
    realRm(path, options);
  });
  syncBuiltinESMExports();
  try {
    saveCheckpoint(root, params, opt, state(3), 2);
  } finally {
    t.mock.restoreAll();
    syncBuiltinESMExports();
  }
  assert.deepEqual(deletedListed, [], "no listed checkpoint was deleted in place");
  assert.deepEqual(listCheckpoints(root), ["step-000002", "step-000003"]);
  assert.deepEqual(readdirSync(root).sort(), ["step-000002", "step-000003"], "nothing else left");
});

test("a prune killed mid-delete (a hidden .old sibling) is neither listed nor resumed, and the next save removes it", () => {
  const root = join(work, "killed", "checkpoints");
  const opt = new AdamW(params);
  for (const step of [1, 2]) saveCheckpoint(root, params, opt, state(step), 2);
  // What a kill during the prune of step 1 leaves: the renamed directory, its tensors partly deleted.
  const torn = join(root, ".step-000001.old-4242");
  fs.renameSync(join(root, "step-000001"), torn);
  rmSync(join(torn, "optimizer.safetensors"));
  assert.deepEqual(listCheckpoints(root), ["step-000002"]);
  assert.equal(resolveCheckpoint(join(work, "killed")), join(root, "step-000002"));
  saveCheckpoint(root, params, opt, state(3), 2);
  assert.deepEqual(readdirSync(root).sort(), ["step-000002", "step-000003"]);
});
