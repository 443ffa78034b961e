/**
 * The Gemma family (src/model/arch/gemma.ts on the Llama-style block) on a random tiny model: GeGLU
 * (src/nn/geglu.ts) against its formula and finite differences; LoRA gradients over all seven linears and
 * full-parameter gradients (the 1 + w RMSNorm weights, initialised at zero as Hugging Face does, the √hidden-scaled tied embedding) against finite
 * differences, also packed and checkpointed; the KV-cache decode equal to the full forward; config.json's Gemma keys.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { refKernels as k } from "../../src/kernels/ref/index.ts";
import { attachLora, loraParams } from "../../src/lora/adapter.ts";
import { defaultLoraConfig } from "../../src/lora/config.ts";
import { allocateActivations } from "../../src/model/activations.ts";
import { assembleModel } from "../../src/model/assemble.ts";
import { parseModelConfig } from "../../src/model/config.ts";
import { enableFullTraining } from "../../src/model/full-params.ts";
import { createSession, feedTokens } from "../../src/model/infer.ts";
import { initModelTensors } from "../../src/model/init.ts";
import { evalLossSum } from "../../src/model/loss.ts";
import type { Model } from "../../src/model/model.ts";
import { gegluBackward, gegluForward } from "../../src/nn/geglu.ts";
import { Rng } from "../../src/tensor/rng.ts";
import { checkDirectional } from "../helpers/gradcheck.ts";
import { randomInput } from "../helpers/random-model.ts";

const CONFIG = {
  model_type: "gemma",
  hidden_size: 16,
  intermediate_size: 24,
  num_hidden_layers: 2,
  num_attention_heads: 4,
  num_key_value_heads: 2,
  head_dim: 8,
  vocab_size: 37,
  hidden_activation: "gelu_pytorch_tanh",
  rms_norm_eps: 1e-6,
  bos_token_id: 2,
  eos_token_id: 1,
};
const V = 37;

function tinyGemma(seed: number): Model {
  const config = parseModelConfig(CONFIG);
  const tensors = initModelTensors(config, { seed, std: 0.2, biasStd: 0.1 });
  return assembleModel(config, tensors, "f32", "tiny gemma");
}

function withLora(model: Model, seed: number): Model {
  const rng = new Rng(seed);
  const targetModules = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"];
  attachLora(model, defaultLoraConfig({ r: 3, loraAlpha: 6, targetModules, initLoraWeights: false }), () => rng.next());
  return model;
}

const rng = new Rng(23);
const rand = (n: number, scale = 1) => Float32Array.from({ length: n }, () => (rng.next() * 2 - 1) * scale);

test("gegluForward is gelu_tanh(gate) · up, gelu_tanh(x) = 0.5 x (1 + tanh(√(2/π) (x + 0.044715 x³)))", () => {
  const gate = rand(20, 3);
  const up = rand(20, 2);
  const out = new Float32Array(20);
  gegluForward(out, gate, up, 20);
  for (let i = 0; i < 20; i++) {
    const x = gate[i]!;
    const want = 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x ** 3))) * up[i]!;
    assert.ok(Math.abs(out[i]! - want) < 1e-6, `[${i}] ${out[i]} vs ${want}`);
  }
});

test("gegluBackward matches finite differences for gate and up", () => {
  const n = 12;
  const gate = rand(n, 3);
  const up = rand(n, 2);
  const g = rand(n); // loss = Σ g · out
  const dgate = new Float32Array(n);
  const dup = new Float32Array(n);
  gegluBackward(dgate, dup, g, gate, up, n);
  const loss = () => {
    const out = new Float32Array(n);
    gegluForward(out, gate, up, n);
    return out.reduce((s, v, i) => s + v * g[i]!, 0);
  };
  const h = 1e-2;
  for (const [name, param, grad] of [
    ["gate", gate, dgate],
    ["up", up, dup],
  ] as const) {
    for (let i = 0; i < n; i++) {
      const keep = param[i]!;
      param[i] = keep + h;
      const plus = loss();
      param[i] = keep - h;
      const minus = loss();
      param[i] = keep;
      const fd = (plus - minus) / (2 * h);
      assert.ok(Math.abs(fd - grad[i]!) < 2e-3 * (1 + Math.abs(fd)), `d${name}[${i}] ${grad[i]} vs ${fd}`);
    }
  }
});

test("config.json's Gemma keys: head_dim on its own, tied by default, GeGLU, √hidden; other activations refused", () => {
  const c = parseModelConfig(CONFIG);
  assert.deepEqual([c.hiddenSize, c.numHeads, c.numKvHeads, c.headDim, c.tieWordEmbeddings], [16, 4, 2, 8, true]);
  assert.deepEqual(c.arch, {
    ropeTheta: 10000,
    ropeScaling: null,
    qkvBias: false,
    qkNorm: false,
    normOffset: 1,
    embedScale: 4,
    mlpAct: "gelu_tanh",
  });
  const { hidden_activation: _, ...legacy } = { ...CONFIG, hidden_act: "gelu" };
  assert.equal((parseModelConfig(legacy).arch as { mlpAct: string }).mlpAct, "gelu_tanh", "hidden_act is ignored");
  assert.throws(() => parseModelConfig({ ...CONFIG, hidden_activation: "relu" }), /hidden_activation "relu"/);
  const fresh = initModelTensors(c, { seed: 1, std: 0.2 });
  const w0 = fresh.get("model.layers.0.input_layernorm.weight")!.data;
  assert.ok(w0.length === 16 && w0.every((v) => v === 0), "norm weights (the w of 1 + w) start at zero");
  assert.equal(
    (parseModelConfig({ ...CONFIG, hidden_size: 24 }).arch as { embedScale: number }).embedScale,
    Math.fround(Math.sqrt(24)),
  );
});

test("LoRA over all seven linears: gradients match finite differences (plain, packed, checkpointed)", () => {
  const model = withLora(tinyGemma(3), 7);
  assert.equal(loraParams(model).length, 2 * 7 * 2);
  checkDirectional(model, loraParams(model), randomInput(2, 7, V, 11, 3), 5);
  const input = randomInput(2, 8, V, 12);
  input.seg = Int32Array.from({ length: 16 }, (_, i) => (i % 8 < 3 ? 0 : 1));
  input.pos = Int32Array.from({ length: 16 }, (_, i) => (i % 8 < 3 ? i % 8 : (i % 8) - 3));
  checkDirectional(model, loraParams(model), input, 6);
  checkDirectional(model, loraParams(model), input, 7, { checkpoint: true });
});

test("full-parameter gradients (1 + w norm weights, the √hidden-scaled tied embedding, linears) match finite differences", () => {
  const model = tinyGemma(5);
  const params = enableFullTraining(model);
  const names = params.map((p) => p.name);
  for (const want of [
    "model.embed_tokens.weight",
    "model.norm.weight",
    "model.layers.1.post_attention_layernorm.weight",
  ]) {
    assert.ok(names.includes(want), want);
  }
  checkDirectional(model, params, randomInput(2, 6, V, 13, 4), 8);
});

test("KV-cache logits equal the full forward at every position (LoRA on every linear)", () => {
  const model = withLora(tinyGemma(6), 9);
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
