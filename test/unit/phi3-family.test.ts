/**
 * The Phi-3 family (src/model/arch/phi3.ts) on a random tiny model with partial rotary (0.5) and longrope: LoRA
 * gradients over the fused qkv_proj and gate_up_proj (and o_proj, down_proj) and full-parameter gradients
 * against finite differences, packed and checkpointed; the KV-cache decode equal to the full forward; the
 * longrope tables against the formula; config.json's Phi-3 keys and their refusals.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { refKernels as k } from "../../src/kernels/ref/index.ts";
import { attachLora, loraParams } from "../../src/lora/adapter.ts";
import { defaultLoraConfig } from "../../src/lora/config.ts";
import { allocateActivations } from "../../src/model/activations.ts";
import type { Phi3Top } from "../../src/model/arch/phi3.ts";
import { phi3Arch, phi3RopeFor } from "../../src/model/arch/phi3.ts";
import { assembleModel } from "../../src/model/assemble.ts";
import { parseModelConfig } from "../../src/model/config.ts";
import { enableFullTraining } from "../../src/model/full-params.ts";
import { createSession, feedTokens } from "../../src/model/infer.ts";
import { initModelTensors } from "../../src/model/init.ts";
import { evalLossSum } from "../../src/model/loss.ts";
import type { Model } from "../../src/model/model.ts";
import type { RopeTables } from "../../src/nn/rope-tables.ts";
import { Rng } from "../../src/tensor/rng.ts";
import { checkDirectional } from "../helpers/gradcheck.ts";
import { randomInput } from "../helpers/random-model.ts";

const V = 41;
const CONFIG = {
  model_type: "phi3",
  hidden_size: 32,
  num_hidden_layers: 2,
  num_attention_heads: 2,
  num_key_value_heads: 1,
  intermediate_size: 24,
  vocab_size: V,
  max_position_embeddings: 64,
  original_max_position_embeddings: 16,
  partial_rotary_factor: 0.5,
  rope_theta: 10000,
  rope_scaling: { type: "longrope", short_factor: [1, 1.5, 2, 3], long_factor: [2, 4, 8, 16] },
  rms_norm_eps: 1e-5,
  tie_word_embeddings: false,
};

function tinyPhi3(seed: number, extra: Record<string, unknown> = {}): Model {
  const config = parseModelConfig({ ...CONFIG, ...extra });
  const tensors = initModelTensors(config, { seed, std: 0.2, normJitter: 0.1 });
  return assembleModel(config, tensors, "f32", "tiny phi3");
}

function withLora(model: Model, seed: number): Model {
  const rng = new Rng(seed);
  const lora = defaultLoraConfig({
    r: 3,
    loraAlpha: 6,
    targetModules: ["qkv_proj", "o_proj", "gate_up_proj", "down_proj"],
    initLoraWeights: false,
  });
  attachLora(model, lora, () => rng.next());
  return model;
}

test("config.json's Phi-3 keys: rotary dims, longrope factors and attention factor, refusals", () => {
  const c = parseModelConfig(CONFIG);
  const a = phi3Arch(c);
  assert.deepEqual([c.headDim, a.rotaryDim, a.longrope?.originalMaxPositions], [16, 8, 16]);
  assert.ok(Math.abs(a.longrope!.attentionFactor - Math.sqrt(1 + Math.log(4) / Math.log(16))) < 1e-15);
  assert.equal(phi3Arch(parseModelConfig({ ...CONFIG, rope_scaling: null })).longrope, null);
  assert.equal(phi3Arch(parseModelConfig({ ...CONFIG, partial_rotary_factor: 1, rope_scaling: null })).rotaryDim, 16);
  assert.throws(
    () => parseModelConfig({ ...CONFIG, rope_scaling: { ...CONFIG.rope_scaling, short_factor: [1, 2] } }),
    /rope_scaling.short_factor must be 4 positive numbers/,
  );
  assert.throws(() => parseModelConfig({ ...CONFIG, rope_scaling: { type: "yarn" } }), /"yarn" is not supported/);
  assert.throws(() => parseModelConfig({ ...CONFIG, partial_rotary_factor: 1.5 }), /partial_rotary_factor 1.5/);
  assert.throws(() => parseModelConfig({ ...CONFIG, hidden_act: "gelu" }), /hidden_act "gelu"/);
});

test("longrope tables: short factors, long factors for a batch past original_max_position_embeddings, times the attention factor", () => {
  const config = parseModelConfig(CONFIG);
  const attn = phi3Arch(config).longrope!.attentionFactor;
  const tensors = initModelTensors(config, { seed: 1 });
  const top = (assembleModel(config, tensors, "f32", "tiny", 64) as Model<unknown, Phi3Top>).top;
  const check = (t: RopeTables, factors: readonly number[], what: string) => {
    for (const p of [0, 5, 63]) {
      for (let i = 0; i < 4; i++) {
        const inv = 1 / (factors[i]! * 10000 ** ((2 * i) / 8));
        assert.ok(Math.abs(t.cos[p * 4 + i]! - Math.cos(p * inv) * attn) < 1e-5, `${what} cos p ${p} i ${i}`);
        assert.ok(Math.abs(t.sin[p * 4 + i]! - Math.sin(p * inv) * attn) < 1e-5, `${what} sin p ${p} i ${i}`);
      }
    }
  };
  check(top.rope, CONFIG.rope_scaling.short_factor, "short");
  assert.ok(top.longRope);
  check(top.longRope, CONFIG.rope_scaling.long_factor, "long");
  assert.equal(phi3RopeFor(config, top, Int32Array.from([0, 15, 3]), 3), top.rope, "max position 15: 16 tokens");
  assert.equal(phi3RopeFor(config, top, Int32Array.from([0, 16, 3]), 3), top.longRope, "max position 16: 17 tokens");
  const within = (assembleModel(config, tensors, "f32", "tiny", 16) as Model<unknown, Phi3Top>).top;
  assert.equal(within.longRope, null, "a model loaded for 16 positions never needs long factors");
});

test("LoRA gradients past original_max_position_embeddings (long factors) match finite differences", () => {
  const model = withLora(tinyPhi3(2), 3);
  checkDirectional(model, loraParams(model), randomInput(1, 20, V, 21, 4), 4);
});

test("LoRA over qkv_proj, o_proj, gate_up_proj, down_proj: fused B rows, gradients match finite differences", () => {
  const model = withLora(tinyPhi3(3), 7);
  const adapted = model.linears.filter((l) => l.adapter);
  assert.deepEqual(
    adapted.slice(0, 4).map((l) => [l.name.replace(/^model\.layers\.0\./, ""), l.outFeatures]),
    [
      ["self_attn.qkv_proj", 32 + 2 * 16],
      ["self_attn.o_proj", 32],
      ["mlp.gate_up_proj", 48],
      ["mlp.down_proj", 32],
    ],
  );
  checkDirectional(model, loraParams(model), randomInput(2, 7, V, 11, 3), 5);
});

test("LoRA gradients with packed sequences and with activation checkpointing; full rotary, plain RoPE", () => {
  const model = withLora(tinyPhi3(14), 8);
  const input = randomInput(2, 8, V, 12);
  input.seg = Int32Array.from({ length: 16 }, (_, i) => (i % 8 < 3 ? 0 : 1));
  input.pos = Int32Array.from({ length: 16 }, (_, i) => (i % 8 < 3 ? i % 8 : (i % 8) - 3));
  checkDirectional(model, loraParams(model), input, 6);
  checkDirectional(model, loraParams(model), input, 7, { checkpoint: true });
  const full = withLora(tinyPhi3(4, { partial_rotary_factor: 1, rope_scaling: null }), 8);
  checkDirectional(full, loraParams(full), randomInput(2, 6, V, 14), 9);
});

test("full-parameter gradients (norms, fused linears, embedding and untied head) match finite differences", () => {
  const model = tinyPhi3(5);
  const params = enableFullTraining(model);
  const names = params.map((p) => p.name);
  for (const want of ["model.layers.1.mlp.gate_up_proj.weight", "model.norm.weight", "lm_head.weight"]) {
    assert.ok(names.includes(want), want);
  }
  checkDirectional(model, params, randomInput(2, 6, V, 13, 4), 8);
});

test("KV-cache logits equal the full forward at every position (LoRA on every linear, tied head)", () => {
  const model = withLora(tinyPhi3(6, { tie_word_embeddings: true }), 9);
  const T = 11;
  const input = randomInput(1, T, V, 5);
  const full = new Float32Array(T * V);
  evalLossSum(k, model, allocateActivations(model, 1, T, { withGrad: false }), input, full);
  for (const chunk of [64, 3, 1]) {
    const session = createSession(model, T, chunk);
    let logits = feedTokens(k, session, input.ids.subarray(0, 5));
    for (let t = 4; t < T; t++) {
      if (t > 4) logits = feedTokens(k, session, [input.ids[t]!]);
      for (let v = 0; v < V; v++) {
        assert.ok(Math.abs(logits[v]! - full[t * V + v]!) < 1e-4, `chunk ${chunk} pos ${t} vocab ${v}`);
      }
    }
  }
});

test("sliding_window: gradients match finite differences (packed too), and a longer window changes nothing", () => {
  const model = withLora(tinyPhi3(7, { sliding_window: 3 }), 10);
  const input = randomInput(2, 8, V, 15, 4);
  checkDirectional(model, loraParams(model), input, 11);
  input.seg = Int32Array.from({ length: 16 }, (_, i) => (i % 8 < 2 ? 0 : 1));
  input.pos = Int32Array.from({ length: 16 }, (_, i) => (i % 8 < 2 ? i % 8 : (i % 8) - 2));
  checkDirectional(model, loraParams(model), input, 12, { checkpoint: true });
  const loss = (extra: Record<string, unknown>) => {
    const m = withLora(tinyPhi3(7, extra), 10);
    return evalLossSum(k, m, allocateActivations(m, 2, 8, { withGrad: false }), input);
  };
  assert.equal(loss({ sliding_window: 8 }), loss({}), "a window as long as the sequence is full attention");
  assert.notEqual(loss({ sliding_window: 3 }), loss({}), "a short window changes the loss");
});

test("sliding_window: KV-cache logits equal the full forward past the window", () => {
  const model = withLora(tinyPhi3(8, { sliding_window: 4 }), 11);
  const T = 11;
  const input = randomInput(1, T, V, 6);
  const full = new Float32Array(T * V);
  evalLossSum(k, model, allocateActivations(model, 1, T, { withGrad: false }), input, full);
  for (const chunk of [64, 3, 1]) {
    const session = createSession(model, T, chunk);
    let logits = feedTokens(k, session, input.ids.subarray(0, 3));
    for (let t = 2; t < T; t++) {
      if (t > 2) logits = feedTokens(k, session, [input.ids[t]!]);
      for (let v = 0; v < V; v++) {
        assert.ok(Math.abs(logits[v]! - full[t * V + v]!) < 1e-4, `chunk ${chunk} pos ${t} vocab ${v}`);
      }
    }
  }
});
