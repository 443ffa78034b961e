/**
 * `--quantize` on load (src/model/quantize.ts): which format each linear weight gets (the chosen one, q8_0 for
 * rows that are not whole 256-value blocks, unquantized for rows not whole 32-value blocks), the head's and the
 * embedding's formats (llama.cpp's rule: a head or tied embedding q6_k under q4_k, q8_0 under q8_0), what stays as
 * loaded (norms), the values being the format's encoding of the loaded ones, and merging into a quantized base
 * (dequantized W + s·B·A in f32, not re-quantized).
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { refKernels as k } from "../../src/kernels/ref/index.ts";
import { attachedAdapter, attachLora } from "../../src/lora/adapter.ts";
import { defaultLoraConfig } from "../../src/lora/config.ts";
import { mergeAdapter } from "../../src/lora/merge.ts";
import { assembleModel } from "../../src/model/assemble.ts";
import {
  describeQuantization,
  headFormatFor,
  quantizedFormatFor,
  quantizeLinears,
  specQuantizedFormat,
} from "../../src/model/quantize.ts";
import { modelParamSpecs } from "../../src/model/specs.ts";
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

test("the head (or the embedding tied to it) gets q6_k under q4_k and q8_0 under q8_0, with the same fallbacks", () => {
  assert.equal(headFormatFor("q4_k", 2048, "bf16"), "q6_k");
  assert.equal(headFormatFor("q8_0", 2048, "bf16"), "q8_0");
  assert.equal(headFormatFor("q4_k", 576, "bf16"), "q8_0");
  assert.equal(headFormatFor("q4_k", 100, "bf16"), "bf16");
  const formats = (tie: boolean, choice: "q4_k" | "q8_0") => {
    const specs = modelParamSpecs(tinyConfig({ hidden_size: 256, tie_word_embeddings: tie }));
    const of = (role: string) => specs.filter((s) => s.role === role).map((s) => specQuantizedFormat(s, choice, "f32"));
    return { embedding: of("embedding"), head: of("head"), norm: of("norm")[0] };
  };
  assert.deepEqual(formats(true, "q4_k"), { embedding: ["q6_k"], head: [], norm: "f32" });
  assert.deepEqual(formats(false, "q4_k"), { embedding: ["q4_k"], head: ["q6_k"], norm: "f32" });
  assert.deepEqual(formats(true, "q8_0"), { embedding: ["q8_0"], head: [], norm: "f32" });
});

test("quantizing on load: linears and the tied embedding encoded from their loaded values, norms untouched", () => {
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
  assert.equal(model.lmHead, model.embed, "tied");
  assert.equal(model.embed.dtype, "q6_k");
  const q6 = weightFormat("q6_k");
  const embedding = before.get("model.embed_tokens.weight")!;
  const enc = q6.alloc(embedding.length);
  q6.fromF32(enc, 0, embedding, embedding.length);
  assert.deepEqual(model.embed.data, enc, "the embedding: q6_k's encoding of the loaded values");
  assert.equal(model.tensors.get("model.embed_tokens.weight"), model.embed);
  const norm = model.tensors.get("model.norm.weight")!;
  assert.equal(norm.dtype, "f32");
  assert.deepEqual(norm.data, before.get("model.norm.weight"));
  assert.equal(
    describeQuantization(model),
    "q4_k: 6 weights, q8_0: 1 weight (rows of 288 values are not whole 256-value blocks); embedding and head: q6_k",
  );
});

test("an untied model: the embedding gets the chosen format, the head q6_k", () => {
  const config = tinyConfig({
    hidden_size: 256,
    intermediate_size: 256,
    num_hidden_layers: 1,
    tie_word_embeddings: false,
  });
  const model = assembleModel(config, randomTensors(config, 6, 0.05), "f32", "random-model");
  quantizeLinears(k, model, "q4_k");
  assert.equal(model.embed.dtype, "q4_k");
  assert.equal(model.lmHead.dtype, "q6_k");
  assert.equal(describeQuantization(model), "q4_k: 7 weights; embedding: q4_k, head: q6_k");
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
