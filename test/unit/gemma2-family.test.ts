/**
 * The Gemma 2 family (src/model/arch/gemma2.ts) on a random tiny model with a window of 3 keys on even layers,
 * attention and final soft-caps small enough to bend the values: LoRA gradients over all seven linears and
 * full-parameter gradients (four 1 + w norms a block, the scaled tied embedding) against finite differences,
 * packed and checkpointed; the KV-cache decode equal to the full forward; config.json's Gemma 2 keys.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { refKernels as k } from "../../src/kernels/ref/index.ts";
import { attachLora, loraParams } from "../../src/lora/adapter.ts";
import { defaultLoraConfig } from "../../src/lora/config.ts";
import { allocateActivations } from "../../src/model/activations.ts";
import type { Gemma2Layer } from "../../src/model/arch/gemma2.ts";
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
  model_type: "gemma2",
  hidden_size: 16,
  intermediate_size: 24,
  num_hidden_layers: 2,
  num_attention_heads: 4,
  num_key_value_heads: 2,
  head_dim: 8,
  vocab_size: 37,
  query_pre_attn_scalar: 12,
  attn_logit_softcapping: 1.5,
  final_logit_softcapping: 2.5,
  sliding_window: 3,
  rms_norm_eps: 1e-6,
  bos_token_id: 2,
  eos_token_id: 1,
};
const V = 37;

function tinyGemma2(seed: number): Model {
  const config = parseModelConfig(CONFIG);
  return assembleModel(config, initModelTensors(config, { seed, std: 0.3, biasStd: 0.1 }), "f32", "tiny gemma2");
}

function withLora(model: Model, seed: number): Model {
  const rng = new Rng(seed);
  const targetModules = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"];
  attachLora(model, defaultLoraConfig({ r: 3, loraAlpha: 6, targetModules, initLoraWeights: false }), () => rng.next());
  return model;
}

test("config.json's Gemma 2 keys: query_pre_attn_scalar, soft-caps, sliding window on even layers, tied", () => {
  const c = parseModelConfig(CONFIG);
  assert.deepEqual(c.arch, {
    ropeScaling: null,
    localRopeTheta: null,
    qkNorm: false,
    slidingLayers: [true, false],
    ropeTheta: 10000,
    attnScale: 12 ** -0.5,
    attnSoftcap: 1.5,
    finalSoftcap: 2.5,
    slidingWindow: 3,
    embedScale: 4,
  });
  assert.equal(c.tieWordEmbeddings, true);
  const model = tinyGemma2(1);
  assert.deepEqual(
    (model.layers as Gemma2Layer[]).map((l) => l.window),
    [3, 0],
  );
  const uncapped = parseModelConfig({ ...CONFIG, attn_logit_softcapping: null, final_logit_softcapping: null });
  assert.deepEqual(
    [(uncapped.arch as { attnSoftcap: number }).attnSoftcap, model.family.logitSoftcap?.(uncapped)],
    [0, 0],
  );
  assert.throws(() => parseModelConfig({ ...CONFIG, hidden_activation: "relu" }), /hidden_activation "relu"/);
});

test("LoRA over all seven linears: gradients match finite differences (plain, packed, checkpointed)", () => {
  const model = withLora(tinyGemma2(3), 7);
  checkDirectional(model, loraParams(model), randomInput(2, 7, V, 11, 3), 5);
  const input = randomInput(2, 8, V, 12);
  input.seg = Int32Array.from({ length: 16 }, (_, i) => (i % 8 < 3 ? 0 : 1));
  input.pos = Int32Array.from({ length: 16 }, (_, i) => (i % 8 < 3 ? i % 8 : (i % 8) - 3));
  checkDirectional(model, loraParams(model), input, 6);
  checkDirectional(model, loraParams(model), input, 7, { checkpoint: true });
});

test("full-parameter gradients (four 1 + w norms a block, final norm, scaled tied embedding) match finite differences", () => {
  const model = tinyGemma2(5);
  const params = enableFullTraining(model);
  const names = params.map((p) => p.name);
  for (const want of [
    "model.layers.0.pre_feedforward_layernorm.weight",
    "model.layers.1.post_feedforward_layernorm.weight",
    "model.norm.weight",
  ]) {
    assert.ok(names.includes(want), want);
  }
  checkDirectional(model, params, randomInput(2, 6, V, 13, 4), 8);
});

test("KV-cache logits (soft-capped) equal the full forward at every position, past the window", () => {
  const model = withLora(tinyGemma2(6), 9);
  const T = 11;
  const input = randomInput(1, T, V, 5);
  const full = new Float32Array(T * V);
  evalLossSum(k, model, allocateActivations(model, 1, T, { withGrad: false }), input, full);
  assert.ok(
    full.every((x) => Math.abs(x) < 2.5),
    "logits inside the final cap",
  );
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
