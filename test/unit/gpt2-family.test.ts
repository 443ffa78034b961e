/**
 * The GPT-2 family (src/model/arch/gpt2.ts) on a random tiny model: LoRA gradients over c_attn, c_proj and c_fc
 * and full-parameter gradients (LayerNorm weights and biases, wpe, wte) against finite differences, with packed
 * sequences and with activation checkpointing; the KV-cache decode equal to the full forward; config.json's
 * GPT-2 keys; a checkpoint saved from GPT2Model (no "transformer." prefix, causal-mask buffers) loads.
 */
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { inspectModel } from "../../src/inspect/inspect.ts";
import { writeSafetensors } from "../../src/io/safetensors-write.ts";
import { refKernels as k } from "../../src/kernels/ref/index.ts";
import { attachLora, loraParams } from "../../src/lora/adapter.ts";
import { defaultLoraConfig } from "../../src/lora/config.ts";
import { allocateActivations } from "../../src/model/activations.ts";
import { assembleModel } from "../../src/model/assemble.ts";
import { parseModelConfig } from "../../src/model/config.ts";
import { enableFullTraining } from "../../src/model/full-params.ts";
import { createSession, feedTokens } from "../../src/model/infer.ts";
import { initModelTensors } from "../../src/model/init.ts";
import { loadModel } from "../../src/model/load.ts";
import { evalLossSum } from "../../src/model/loss.ts";
import type { Model } from "../../src/model/model.ts";
import { Rng } from "../../src/tensor/rng.ts";
import { checkDirectional, meanLoss } from "../helpers/gradcheck.ts";
import { randomInput } from "../helpers/random-model.ts";

const work = mkdtempSync(join(tmpdir(), "lt-gpt2-"));
after(() => rmSync(work, { recursive: true, force: true }));

const CONFIG = {
  model_type: "gpt2",
  n_embd: 16,
  n_layer: 2,
  n_head: 4,
  n_positions: 32,
  vocab_size: 37,
  layer_norm_epsilon: 1e-5,
  activation_function: "gelu_new",
  bos_token_id: 0,
  eos_token_id: 0,
};

function tinyGpt2(seed: number): Model {
  const config = parseModelConfig(CONFIG);
  const tensors = initModelTensors(config, { seed, std: 0.2, normJitter: 0.1, biasStd: 0.2 });
  return assembleModel(config, tensors, "f32", "tiny gpt2");
}

function withLora(model: Model, seed: number): Model {
  const rng = new Rng(seed);
  const lora = defaultLoraConfig({
    r: 3,
    loraAlpha: 6,
    targetModules: ["c_attn", "c_proj", "c_fc"],
    initLoraWeights: false,
  });
  attachLora(model, lora, () => rng.next());
  return model;
}

test("config.json's GPT-2 keys: n_embd, n_layer, n_head, n_inner (default 4 n_embd), n_positions, tied", () => {
  const c = parseModelConfig(CONFIG);
  assert.deepEqual(
    [c.hiddenSize, c.numLayers, c.numHeads, c.headDim, c.intermediateSize, c.maxPositions, c.tieWordEmbeddings],
    [16, 2, 4, 4, 64, 32, true],
  );
  assert.equal(parseModelConfig({ ...CONFIG, n_inner: 24 }).intermediateSize, 24);
  assert.throws(() => parseModelConfig({ ...CONFIG, activation_function: "relu" }), /activation_function "relu"/);
  assert.throws(() => parseModelConfig({ ...CONFIG, n_head: 5 }), /multiple of n_head/);
});

test("LoRA over c_attn, c_proj (attn and mlp) and c_fc: gradients match finite differences", () => {
  const model = withLora(tinyGpt2(3), 7);
  assert.deepEqual(
    model.linears
      .filter((l) => l.adapter)
      .map((l) => l.name.replace(/^transformer\.h\.0\./, ""))
      .slice(0, 4),
    ["attn.c_attn", "attn.c_proj", "mlp.c_fc", "mlp.c_proj"],
  );
  checkDirectional(model, loraParams(model), randomInput(2, 7, 37, 11, 3), 5);
});

test("LoRA gradients with packed sequences (positions restart) and with activation checkpointing", () => {
  const model = withLora(tinyGpt2(4), 8);
  const input = randomInput(2, 8, 37, 12);
  input.seg = Int32Array.from({ length: 16 }, (_, i) => (i % 8 < 3 ? 0 : 1));
  input.pos = Int32Array.from({ length: 16 }, (_, i) => (i % 8 < 3 ? i % 8 : (i % 8) - 3));
  checkDirectional(model, loraParams(model), input, 6);
  checkDirectional(model, loraParams(model), input, 7, { checkpoint: true });
});

test("full-parameter gradients (LayerNorms with bias, wpe, tied wte, linears and biases) match finite differences", () => {
  const model = tinyGpt2(5);
  const params = enableFullTraining(model);
  const names = params.map((p) => p.name);
  for (const want of ["transformer.wpe.weight", "transformer.ln_f.bias", "transformer.h.1.ln_2.bias"]) {
    assert.ok(names.includes(want), want);
  }
  checkDirectional(model, params, randomInput(2, 6, 37, 13, 4), 8);
});

test("KV-cache logits equal the full forward at every position (LoRA on every linear)", () => {
  const model = withLora(tinyGpt2(6), 9);
  const T = 11;
  const V = 37;
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

test("a position past n_positions is refused with a message naming it", () => {
  const model = tinyGpt2(6);
  const input = randomInput(1, 4, 37, 5);
  input.pos[3] = 32;
  assert.throws(() => meanLoss(model, input), /position 32 is past its learned position embeddings \(n_positions 32\)/);
});

test("a GPT2Model checkpoint (names without 'transformer.', attn.bias mask buffers, [in, out] Conv1D) loads", () => {
  const config = parseModelConfig(CONFIG);
  const tensors = initModelTensors(config, { seed: 9, std: 0.2, normJitter: 0.1, biasStd: 0.2 });
  const file = new Map(
    [...tensors].map(([name, t]) => [
      name.replace(/^transformer\./, ""),
      { dtype: "F32" as const, shape: t.shape, data: t.data as Float32Array },
    ]),
  );
  for (let l = 0; l < 2; l++) {
    file.set(`h.${l}.attn.bias`, { dtype: "F32", shape: [1, 1, 32, 32], data: new Float32Array(32 * 32).fill(1) });
  }
  const dir = join(work, "gpt2model");
  mkdirSync(dir);
  writeFileSync(join(dir, "config.json"), JSON.stringify(CONFIG));
  writeSafetensors(join(dir, "model.safetensors"), file, { format: "pt" });
  const loaded = loadModel(dir);
  const direct = assembleModel(config, tensors, "f32", "direct");
  const input = randomInput(2, 5, 37, 3);
  assert.equal(meanLoss(loaded, input), meanLoss(direct, input));
  assert.equal(loaded.tensors.has("transformer.h.0.attn.bias"), false);
  const weights = [...tensors.values()].reduce((n, t) => n + t.shape.reduce((a, b) => a * b, 1), 0);
  assert.equal(inspectModel(dir).parameters, weights, "the mask buffers are no parameters");
});
