/**
 * The read pass over a model's own weights that decode rows are put against (src/bench/weights-read.ts): every
 * distinct weight once, as f32 words over its bytes, and a rate from the kernels' `sum`.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { makeRandomModel } from "../../src/bench/random-model.ts";
import { shapeConfig } from "../../src/bench/shapes.ts";
import { readWeightsGBs, weightWords } from "../../src/bench/weights-read.ts";
import { refKernels } from "../../src/kernels/ref/index.ts";
import type { Model } from "../../src/model/model.ts";
import { weightFormat } from "../../src/tensor/formats/index.ts";

test("weightWords: every weight's bytes once, as f32 words", () => {
  for (const dtype of ["f32", "bf16", "q4_k"] as const) {
    const config = shapeConfig("tiny");
    const model = makeRandomModel(refKernels, config, dtype, 1, 16);
    const words = weightWords(model);
    const held = [...model.tensors.values()].reduce((n, t) => n + t.data.byteLength, 0);
    const read = words.reduce((n, w) => n + w.byteLength, 0);
    // A buffer's tail of under 4 bytes is not read (odd counts of bf16 values).
    assert.ok(read <= held && held - read < 4 * model.tensors.size, `${dtype}: ${read} of ${held} bytes`);
    assert.equal(words.length, model.tensors.size, `${dtype}: one view per weight`);
    for (const w of words) assert.equal(w.byteOffset % 4, 0);
  }
});

test("weightWords: data two names share is read once; data off a 4-byte boundary is left out", () => {
  const f = weightFormat("bf16");
  const shared = f.alloc(64);
  const buffer = new ArrayBuffer(2 + 128);
  const model = {
    tensors: new Map([
      ["embed", { dtype: "bf16", shape: [8, 8], data: shared }],
      ["head", { dtype: "bf16", shape: [8, 8], data: shared }],
      ["odd", { dtype: "bf16", shape: [8, 8], data: new Uint16Array(buffer, 2, 64) }],
      ["tiny", { dtype: "bf16", shape: [1, 1], data: new Uint16Array(1) }],
    ]),
  } as unknown as Model;
  const words = weightWords(model);
  assert.equal(words.length, 1);
  assert.equal(words[0]!.buffer, shared.buffer);
  assert.equal(words[0]!.byteLength, 128);
});

test("readWeightsGBs: a positive rate over the words, null over nothing", () => {
  const words = [new Float32Array(1 << 16).fill(1), new Float32Array(1000).fill(Number.NaN)];
  assert.ok(readWeightsGBs(refKernels, words)! > 0);
  assert.equal(readWeightsGBs(refKernels, []), null);
});
