/**
 * The CPU-side checks of index inputs for the WebGPU kernels (src/kernels/webgpu/checks.ts): they refuse what the
 * reference kernels refuse, with the reference's messages, since the shaders cannot throw.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { LoratuneError } from "../../src/errors.ts";
import { refKernels as ref } from "../../src/kernels/ref/index.ts";
import { checkPositions, checkTargets } from "../../src/kernels/webgpu/checks.ts";

test("checkPositions accepts positions inside the tables and refuses the reference's way outside them", () => {
  checkPositions(Int32Array.of(0, 3, 8), 3, 9);
  const bad = Int32Array.of(0, 9);
  const cos = new Float32Array(9 * 2);
  const refErr = (() => {
    try {
      ref.ropeForward(new Float32Array(2 * 4), bad, cos, cos, 2, 1, 4);
    } catch (e) {
      return e as Error;
    }
  })();
  assert.throws(() => checkPositions(bad, 2, 9), { name: "RangeError", message: refErr?.message });
  assert.throws(() => checkPositions(Int32Array.of(-1), 1, 9), /pos\[0\] = -1 is outside the RoPE tables \[0, 9\)/);
  // Only the first N rows count.
  checkPositions(Int32Array.of(1, 99), 1, 9);
});

test("checkTargets accepts -100 and the vocabulary, and refuses the reference's way outside it", () => {
  checkTargets(Int32Array.of(0, -100, 6), 3, 7);
  const bad = Int32Array.of(2, 7);
  const refErr = (() => {
    try {
      ref.crossEntropy(new Float32Array(2), null, new Float32Array(14), bad, 2, 7, 1);
    } catch (e) {
      return e as Error;
    }
  })();
  assert.ok(refErr instanceof LoratuneError);
  assert.throws(
    () => checkTargets(bad, 2, 7),
    (e) => e instanceof LoratuneError && e.message === refErr.message,
  );
  assert.throws(() => checkTargets(Int32Array.of(-1), 1, 7), /target -1 at row 0 is outside the vocabulary/);
});
