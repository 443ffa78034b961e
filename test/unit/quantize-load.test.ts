/**
 * `--quantize` on load (src/model/quantize.ts): which format each linear weight gets (the chosen one, q8_0 for
 * rows that are not whole 256-value blocks, unquantized for rows not whole 32-value blocks), what stays as loaded
 * (embedding, norms), the values being the format's encoding of the loaded ones, and merging into a quantized base
 * (dequantized W + s·B·A in f32, not re-quantized).
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { refKernels as k } from "../../src/kernels/ref/index.ts";
import { attachedAdapter, attachLora } from "../../src/lora/adapter.ts";
import { defaultLoraConfig } from "../../src/lora/config.ts";
import { mergeAdapter } from "../../src/lora/merge.ts";
import { assembleModel } from "../../src/model/assemble.ts";
import { describeQuantization, quantizedFormatFor, quantizeLinears } from "../../src/model/quantize.ts";
import { valuesAsF32, weightFormat } from "../../src/tensor/formats/index.ts";
import { Rng } from "../../src/tensor/rng.ts";
import { randomTensors, tinyConfig } from "../helpers/random-model.ts";

test("a weight gets the chosen format, q8_0 when its rows are not whole 256-value blocks, else stays", () => {
  assert.equal(quantizedFormatFor("q4_k", 512, "f32"), "q4_k");
  assert.equal(quantizedFormatFor("q4_k", 704, "bf16"), "q8_0");
  assert.equal(quantizedFormatFor("q4_k", 100, "bf16"), "bf16");
  assert.equal(quantizedFormatFor("q8_0", 96, "f32"), "q8_0");
  assert.equal(quantizedFormatFor("q8_0", 40, "f32"), "f32");
});

test("quantizing on load: linears encoded from their loaded values, embedding and norms untouched", () => {
  // hidden 256 (q/k/v/o/gate/up rows: q4_k), intermediate 288 (down_proj rows: 288 = 9·32, so q8_0).
  const config = tinyConfig({ hidden_size: 256, intermediate_size: 288, num_hidden_layers: 1 });
  const tensors = randomTensors(config, 4, 0.05);
  const before = new Map([...tensors].map(([name, t]) => [name, Float32Array.from(t.data as Float32Array)]));
  const model = assembleModel(config, tensors, "f32", "random-model");
  quantizeLinears(k, model, "q4_k");
  for (const lin of model.linears) {
    const want = lin.name.endsWith("down_proj") ? "q8_0" : "q4_k";
    assert.equal(lin.weight.dtype, want, lin.name);
    const f = weightFormat(want);
    const enc = f.alloc(lin.outFeatures * lin.inFeatures);
    f.fromF32(enc, 0, before.get(`${lin.name}.weight`)!, lin.outFeatures * lin.inFeatures);
    assert.deepEqual(lin.weight.data, enc, `${lin.name}: the format's encoding of the loaded values`);
    assert.equal(model.tensors.get(`${lin.name}.weight`), lin.weight, "the model's tensor map sees the same weight");
  }
  assert.equal(model.embed.dtype, "f32");
  assert.deepEqual(model.embed.data, before.get("model.embed_tokens.weight"));
  assert.equal(
    describeQuantization(model),
    "q4_k: 6 weights, q8_0: 1 weight (rows of 288 values are not whole 256-value blocks)",
  );
});

test("merging into a quantized base writes dequantized W + s·B·A in f32", () => {
  const config = tinyConfig({ hidden_size: 256, intermediate_size: 256, num_hidden_layers: 1 });
  const model = assembleModel(config, randomTensors(config, 5, 0.05), "f32", "random-model");
  quantizeLinears(k, model, "q8_0");
  const rng = new Rng(3);
  attachLora(model, defaultLoraConfig({ r: 2, loraAlpha: 4, targetModules: ["q_proj"], initLoraWeights: false }), () =>
    rng.next(),
  );
  const q = model.linears.find((l) => l.name.endsWith("q_proj"))!;
  const n = q.outFeatures * q.inFeatures;
  const dequantized = valuesAsF32("q8_0", q.weight.data, n);
  // The expected merge: the f32 values plus s·B·A, computed the way every merge computes it.
  const want = Float32Array.from(dequantized);
  attachedAdapter(q)!.merge(k, want, null, q);
  assert.equal(mergeAdapter(k, model), 1);
  assert.equal(q.weight.dtype, "f32");
  assert.deepEqual(q.weight.data, want);
  assert.notDeepEqual(want, dequantized, "the update is not rounded away");
});
