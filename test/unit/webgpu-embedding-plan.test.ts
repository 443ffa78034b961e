/**
 * The WebGPU embedding backward's plan (src/kernels/webgpu/embedding.ts embeddingGradPlanWords): the batch's
 * distinct ids, each with the positions that use it in increasing order, and the reference's refusal of ids
 * outside the vocabulary. (The kernel itself is tested in headless Chromium: test/e2e/webgpu-kernels.test.ts.)
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { LoratuneError } from "../../src/errors.ts";
import { embeddingGradPlanWords } from "../../src/kernels/webgpu/embedding.ts";

test("embeddingGradPlanWords groups positions by id, in order of first use and increasing position", () => {
  const words = embeddingGradPlanWords(Int32Array.of(3, 7, 3, 0, 7, 3), 6, 8);
  // ids [3, 7, 0] | offsets [0, 3, 5, 6] | positions [0 2 5, 1 4, 3]
  assert.deepEqual(Array.from(words), [3, 7, 0, 0, 3, 5, 6, 0, 2, 5, 1, 4, 3]);
});

test("embeddingGradPlanWords counts only the first N ids and refuses ids outside the vocabulary", () => {
  assert.deepEqual(Array.from(embeddingGradPlanWords(Int32Array.of(1, 99), 1, 4)), [1, 0, 1, 0]);
  assert.throws(
    () => embeddingGradPlanWords(Int32Array.of(1, 4), 2, 4),
    (e) => e instanceof LoratuneError && /token id 4 at position 1 is outside the vocabulary \[0, 4\)/.test(e.message),
  );
});
