/**
 * The gemma3_text family (src/model/arch/gemma3.ts on the Gemma 2 block) on a random tiny model of 3 layers
 * (pattern 3: layers 0 and 1 sliding over 3 keys with RoPE base 1e4, layer 2 global with rope_theta 1e6 and linear
 * scaling, query_pre_attn_scalar = head_dim so it runs the kernels' attention): config.json's Gemma 3 keys (layer_types, sliding_window_pattern, rope_local_base_freq); LoRA gradients
 * and full-parameter gradients (q/k norms included) against finite differences, packed and checkpointed; the
 * KV-cache decode equal to the full forward.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { refKernels as k } from "../../src/kernels/ref/index.ts";
import { attachLora, loraParams } from "../../src/lora/adapter.ts";
import { defaultLoraConfig } from "../../src/lora/config.ts";
import { allocateActivations } from "../../src/model/activations.ts";
import type { Gemma2Arch, Gemma2Layer } from "../../src/model/arch/gemma2.ts";
import { assembleModel } from "../../src/model/assemble.ts";
import { parseModelConfig } from "../../src/model/config.ts";
import { enableFullTraining } from "../../src/model/full-params.ts";
import { createSession, feedTokens } from "../../src/model/infer.ts";
import { initModelTensors } from "../../src/model/init.ts";
import { evalLossSum } from "../../src/model/loss.ts";
import type { Model } from "../../src/model/model.ts";
import { Rng } from "../../src/tensor/rng.ts";
import { checkDirectional } from "../helpers/gradcheck.ts";
import { randomInput } from "../helpers/random-model.ts";

const CONFIG = {
  model_type: "gemma3_text",
  hidden_size: 16,
  intermediate_size: 24,
  num_hidden_layers: 3,
  num_attention_heads: 4,
  num_key_value_heads: 2,
  head_dim: 8,
  vocab_size: 37,
  query_pre_attn_scalar: 8, // = head_dim: the global layer runs the kernels' attention, the sliding ones the plain-TS one
  sliding_window: 3,
  sliding_window_pattern: 3,
  rope_local_base_freq: 10000,
  rope_scaling: { rope_type: "linear", factor: 4 },
  rms_norm_eps: 1e-6,
};
const V = 37;

function tinyGemma3(seed: number): Model {
  const config = parseModelConfig(CONFIG);
  return assembleModel(config, initModelTensors(config, { seed, std: 0.3, biasStd: 0.1 }), "f32", "tiny gemma3");
}

function withLora(model: Model, seed: number): Model {
  const rng = new Rng(seed);
  const targetModules = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"];
  attachLora(model, defaultLoraConfig({ r: 3, loraAlpha: 6, targetModules, initLoraWeights: false }), () => rng.next());
  return model;
}

const arch = (raw: Record<string, unknown>) => parseModelConfig(raw).arch as Gemma2Arch;

test("config.json's Gemma 3 keys: sliding layers by pattern or layer_types, two RoPE bases, q/k norms, no caps", () => {
  const a = arch(CONFIG);
  assert.deepEqual(a.slidingLayers, [true, true, false]);
  assert.deepEqual([a.ropeTheta, a.localRopeTheta, a.ropeScaling], [1e6, 10000, { type: "linear", factor: 4 }]);
  assert.deepEqual([a.qkNorm, a.attnSoftcap, a.finalSoftcap, a.attnScale], [true, 0, 0, 8 ** -0.5]);
  const { sliding_window_pattern: _, ...noPattern } = { ...CONFIG, num_hidden_layers: 7 };
  assert.deepEqual(arch(noPattern).slidingLayers, [true, true, true, true, true, false, true], "default pattern 6");
  const typed = { ...CONFIG, layer_types: ["full_attention", "sliding_attention", "full_attention"] };
  assert.deepEqual(arch(typed).slidingLayers, [false, true, false]);
  assert.throws(() => parseModelConfig({ ...CONFIG, layer_types: ["full_attention"] }), /one type for each of the 3/);
  assert.throws(
    () => parseModelConfig({ ...CONFIG, rope_scaling: { rope_type: "yarn", factor: 2 } }),
    /rope_scaling .* is not supported for gemma3_text/,
  );
  const model = tinyGemma3(1);
  const layers = model.layers as Gemma2Layer[];
  assert.deepEqual(
    layers.map((l) => l.window),
    [3, 3, 0],
  );
  assert.equal(layers[0]!.rope, layers[1]!.rope);
  assert.notEqual(layers[0]!.rope, layers[2]!.rope);
  assert.ok(model.tensors.has("model.layers.2.self_attn.k_norm.weight"));
});

test("LoRA over all seven linears: gradients match finite differences (plain, packed, checkpointed)", () => {
  const model = withLora(tinyGemma3(3), 7);
  checkDirectional(model, loraParams(model), randomInput(2, 7, V, 11, 3), 5);
  const input = randomInput(2, 8, V, 12);
  input.seg = Int32Array.from({ length: 16 }, (_, i) => (i % 8 < 3 ? 0 : 1));
  input.pos = Int32Array.from({ length: 16 }, (_, i) => (i % 8 < 3 ? i % 8 : (i % 8) - 3));
  checkDirectional(model, loraParams(model), input, 6);
  checkDirectional(model, loraParams(model), input, 7, { checkpoint: true });
});

test("full-parameter gradients (q/k norms, four block norms, scaled tied embedding) match finite differences", () => {
  const model = tinyGemma3(5);
  const params = enableFullTraining(model);
  const names = params.map((p) => p.name);
  for (const want of ["model.layers.0.self_attn.q_norm.weight", "model.layers.2.self_attn.k_norm.weight"]) {
    assert.ok(names.includes(want), want);
  }
  checkDirectional(model, params, randomInput(2, 6, V, 13, 4), 8);
});

test("KV-cache logits equal the full forward at every position, past the window", () => {
  const model = withLora(tinyGemma3(6), 9);
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
