/**
 * Activation checkpointing: backward that recomputes each layer's forward from its saved input gives the same
 * loss and bit-identical gradients as the plain arena (every model variant, LoRA with dropout replayed, full fine-tuning),
 * on the reference and the native kernels, in less activation memory. The MLP in row chunks (model/arch/llama-mlp.ts):
 * several chunks, with and without checkpointing, bit-identical to each other, equal to the MLP in one chunk within
 * f32 rounding, and its gradients match finite differences. Sequence groups (model/groups.ts): without
 * checkpointing each block runs the batch group by group; with it the arena holds one group and the batch runs
 * group by group through the whole model; the two are bit-identical, equal to one group within f32 rounding,
 * and match finite differences.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { getKernels } from "../../src/kernels/index.ts";
import { refKernels } from "../../src/kernels/ref/index.ts";
import type { Kernels } from "../../src/kernels/types.ts";
import { attachLora, loraParams } from "../../src/lora/adapter.ts";
import { defaultLoraConfig } from "../../src/lora/config.ts";
import { activationBytes, allocateActivations } from "../../src/model/activations.ts";
import { assembleModel } from "../../src/model/assemble.ts";
import { parseModelConfig } from "../../src/model/config.ts";
import type { ModelInput } from "../../src/model/forward.ts";
import { enableFullTraining } from "../../src/model/full-params.ts";
import { initModelTensors } from "../../src/model/init.ts";
import { countLabelTokens, evalLossSum, lossAndGrad } from "../../src/model/loss.ts";
import type { Model } from "../../src/model/model.ts";
import { Rng } from "../../src/tensor/rng.ts";
import { type TrainableParam, zeroGrads } from "../../src/tensor/trainable.ts";
import { checkDirectional } from "../helpers/gradcheck.ts";
import { randomInput, randomModel } from "../helpers/random-model.ts";

/** Loss and a copy of every gradient after one lossAndGrad; dropout draws from a fresh seeded source. */
function run(
  k: Kernels,
  model: Model,
  params: TrainableParam[],
  input: ModelInput,
  checkpoint: boolean,
  rowChunk?: number,
  groupSeqs?: number,
) {
  const o = {
    checkpoint,
    ...(rowChunk === undefined ? {} : { rowChunk }),
    ...(groupSeqs === undefined ? {} : { groupSeqs }),
  };
  const acts = allocateActivations(model, input.B, input.T, o);
  assert.equal(acts.checkpoint, checkpoint);
  assert.equal(activationBytes(model, input.B, input.T, o), acts.bytes, "activationBytes predicts the arena");
  zeroGrads(params);
  const rng = new Rng(99);
  const loss = lossAndGrad(k, model, acts, input, 1 / countLabelTokens(input.targets), () => rng.next());
  return { loss, grads: params.map((p) => p.grad.slice()), bytes: acts.bytes, micro: acts.micro };
}

function assertSameRun(
  label: string,
  k: Kernels,
  model: Model,
  params: TrainableParam[],
  input: ModelInput,
  rowChunk?: number,
  groupSeqs?: number,
) {
  const plain = run(k, model, params, input, false, rowChunk, groupSeqs);
  const ckpt = run(k, model, params, input, true, rowChunk, groupSeqs);
  assert.ok(ckpt.bytes < plain.bytes, `${label}: checkpointing uses less memory (${ckpt.bytes} < ${plain.bytes})`);
  assert.equal(ckpt.loss, plain.loss, `${label}: same loss`);
  let nonzero = 0;
  plain.grads.forEach((g, i) => {
    const h = ckpt.grads[i]!;
    for (let j = 0; j < g.length; j++) {
      assert.equal(h[j], g[j], `${label}: grad ${i}[${j}] (the recomputed forward is bit-identical)`);
      if (g[j] !== 0) nonzero++;
    }
  });
  assert.ok(nonzero > 0, `${label}: gradients are not all zero`);
}

const variants: [string, Record<string, unknown>][] = [
  ["llama GQA tied", {}],
  ["qwen2 biases", { model_type: "qwen2" }],
  ["qwen3 qk-norm", { model_type: "qwen3", head_dim: 8 }],
];
const kernels: Kernels[] = [refKernels, getKernels()];

for (const [label, overrides] of variants) {
  test(`checkpointed backward = plain backward: LoRA all-linear with dropout (${label})`, () => {
    for (const k of kernels) {
      const model = randomModel(overrides, 3);
      const rng = new Rng(7);
      // p = 0.1: the scale 1/(1-p) is not exact in f32, so a replayed mask must use the stored f32 scale.
      const config = defaultLoraConfig({ r: 3, loraAlpha: 6, targetModules: "all-linear", loraDropout: 0.1 });
      attachLora(model, { ...config, initLoraWeights: false }, () => rng.next());
      const input = randomInput(2, 9, model.config.vocabSize, 11, 3);
      assertSameRun(`${label} ${k.name}`, k, model, loraParams(model), input);
      // The MLP in chunks of 5 rows (5, 5, 5, 3): dropout masks drawn chunk by chunk, recomputed per chunk.
      assertSameRun(`${label} ${k.name}, row chunks of 5`, k, model, loraParams(model), input, 5);
    }
  });
}

test("checkpointed backward = plain backward: full fine-tuning (qwen3, packed segments)", () => {
  for (const k of kernels) {
    const model = randomModel({ model_type: "qwen3", head_dim: 8 }, 5);
    const params = enableFullTraining(model);
    const input = randomInput(1, 12, model.config.vocabSize, 13);
    input.seg = Int32Array.from({ length: 12 }, (_, i) => (i < 5 ? 0 : 1));
    assertSameRun(`full ${k.name}`, k, model, params, input);
  }
});

test("the MLP in row chunks = in one chunk (within f32 rounding), and its gradients match finite differences", () => {
  for (const k of kernels) {
    const model = randomModel({}, 4);
    const rng = new Rng(8);
    const config = defaultLoraConfig({ r: 3, loraAlpha: 6, targetModules: "all-linear" });
    attachLora(model, { ...config, initLoraWeights: false }, () => rng.next());
    const params = loraParams(model);
    const input = randomInput(2, 9, model.config.vocabSize, 12, 3);
    const whole = run(k, model, params, input, false);
    const chunked = run(k, model, params, input, true, 4);
    assert.ok(chunked.bytes < whole.bytes, `chunks take less memory (${chunked.bytes} < ${whole.bytes})`);
    assert.ok(
      Math.abs(chunked.loss - whole.loss) <= 1e-5 * Math.abs(whole.loss),
      `loss ${chunked.loss} vs ${whole.loss}`,
    );
    whole.grads.forEach((g, i) => {
      const h = chunked.grads[i]!;
      const scale = g.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
      for (let j = 0; j < g.length; j++) {
        assert.ok(Math.abs(h[j]! - g[j]!) <= 1e-5 * scale + 1e-9, `${k.name}: grad ${i}[${j}] ${h[j]} vs ${g[j]}`);
      }
    });
  }
  const model = randomModel({ model_type: "qwen2" }, 6);
  const rng = new Rng(9);
  attachLora(
    model,
    { ...defaultLoraConfig({ r: 2, loraAlpha: 4, targetModules: "all-linear" }), initLoraWeights: false },
    () => rng.next(),
  );
  checkDirectional(model, loraParams(model), randomInput(2, 7, model.config.vocabSize, 13, 3), 7, {
    checkpoint: true,
    rowChunk: 3,
  });
});

/** Every gradient of `a` equals `b`'s within f32 rounding (relative to each tensor's largest). */
function assertClose(label: string, a: ReturnType<typeof run>, b: ReturnType<typeof run>) {
  assert.ok(Math.abs(a.loss - b.loss) <= 1e-5 * Math.abs(b.loss), `${label}: loss ${a.loss} vs ${b.loss}`);
  b.grads.forEach((g, i) => {
    const h = a.grads[i]!;
    const scale = g.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
    for (let j = 0; j < g.length; j++) {
      assert.ok(Math.abs(h[j]! - g[j]!) <= 1e-5 * scale + 1e-9, `${label}: grad ${i}[${j}] ${h[j]} vs ${g[j]}`);
    }
  });
}

const groupVariants: [string, Record<string, unknown>][] = [
  ["llama GQA tied", {}],
  ["qwen2 biases", { model_type: "qwen2" }],
  ["qwen3 qk-norm", { model_type: "qwen3", head_dim: 8 }],
  [
    "gemma2 window 4, soft-caps",
    {
      model_type: "gemma2",
      head_dim: 8,
      sliding_window: 4,
      query_pre_attn_scalar: 8,
      attn_logit_softcapping: 1.5,
      final_logit_softcapping: 2.5,
    },
  ],
  ["phi3", { model_type: "phi3" }],
];

for (const [label, overrides] of groupVariants) {
  test(`sequence groups: checkpointed (one group in the arena) = plain (groups within each block), bit for bit (${label})`, () => {
    for (const k of kernels) {
      const model = randomModel(overrides, 3);
      const rng = new Rng(7);
      const config = defaultLoraConfig({ r: 3, loraAlpha: 6, targetModules: "all-linear" });
      attachLora(model, { ...config, initLoraWeights: false }, () => rng.next());
      const params = loraParams(model);
      const input = randomInput(5, 9, model.config.vocabSize, 11, 3);
      // Groups of 2 sequences (2, 2, 1), MLP chunks of 5 rows inside each group.
      assertSameRun(`${label} ${k.name}, groups of 2`, k, model, params, input, 5, 2);
      assertSameRun(`${label} ${k.name}, groups of 1`, k, model, params, input, undefined, 1);
      const grouped = run(k, model, params, input, true, undefined, 2);
      assert.ok(grouped.micro, `${label}: the checkpointed arena holds one group`);
      const whole = run(k, model, params, input, false, undefined, 5);
      assert.ok(
        grouped.bytes < run(k, model, params, input, true, undefined, 5).bytes,
        `${label}: one group is smaller`,
      );
      assertClose(`${label} ${k.name}: groups vs one group`, grouped, whole);
    }
  });
}

test("sequence groups: full fine-tuning of an untied model, packed segments; dropout and a trained tied table keep one group", () => {
  for (const k of kernels) {
    const model = randomModel({ model_type: "qwen3", head_dim: 8, tie_word_embeddings: false }, 5);
    const params = enableFullTraining(model);
    const input = randomInput(3, 12, model.config.vocabSize, 13);
    input.seg = Int32Array.from({ length: 36 }, (_, i) => (i % 12 < 5 ? 0 : 1));
    assertSameRun(`full untied ${k.name}`, k, model, params, input, undefined, 1);
    assert.ok(run(k, model, params, input, true, undefined, 1).micro);
  }
  const tied = randomModel({}, 5);
  const tiedParams = enableFullTraining(tied);
  const input = randomInput(3, 6, tied.config.vocabSize, 14);
  assert.equal(allocateActivations(tied, 3, 6, { checkpoint: true, groupSeqs: 1 }).micro, false, "tied table trains");
  assert.ok(tiedParams.length > 0);
  const dropped = randomModel({}, 6);
  const rng = new Rng(3);
  attachLora(dropped, defaultLoraConfig({ r: 2, targetModules: "all-linear", loraDropout: 0.1 }), () => rng.next());
  const acts = allocateActivations(dropped, 3, 6, { checkpoint: true, groupSeqs: 1 });
  assert.equal(acts.micro, false, "dropout masks");
  assert.equal(acts.groupSeqs, 3);
  assert.ok(input.B === 3);
});

test("sequence groups: gradients match finite differences (checkpointed, one sequence per group)", () => {
  const model = randomModel({ model_type: "qwen2" }, 6);
  const rng = new Rng(9);
  attachLora(
    model,
    { ...defaultLoraConfig({ r: 2, loraAlpha: 4, targetModules: "all-linear" }), initLoraWeights: false },
    () => rng.next(),
  );
  checkDirectional(model, loraParams(model), randomInput(3, 7, model.config.vocabSize, 13, 3), 7, {
    checkpoint: true,
    groupSeqs: 1,
    rowChunk: 3,
  });
});

test("sequence groups: evaluation through a one-group arena = through a whole-batch arena (loss and logits)", () => {
  for (const k of kernels) {
    const model = randomModel({ model_type: "qwen2" }, 8);
    const rng = new Rng(4);
    attachLora(model, defaultLoraConfig({ r: 2, targetModules: "all-linear" }), () => rng.next());
    const input = randomInput(3, 8, model.config.vocabSize, 15, 2);
    const V = model.config.vocabSize;
    const eval_ = (o: { checkpoint: boolean; groupSeqs: number }) => {
      const acts = allocateActivations(model, 3, 8, o);
      const logits = new Float32Array(3 * 8 * V);
      return { micro: acts.micro, loss: evalLossSum(k, model, acts, input, logits), logits };
    };
    const one = eval_({ checkpoint: true, groupSeqs: 1 });
    const whole = eval_({ checkpoint: false, groupSeqs: 1 });
    assert.deepEqual([one.micro, whole.micro], [true, false]);
    assert.equal(one.loss, whole.loss, `${k.name}: same Σ loss`);
    assert.ok(
      one.logits.every((v, i) => v === whole.logits[i]),
      `${k.name}: same logits`,
    );
  }
});

test("sequence groups: GPT-2 (learned positions, LayerNorm, fused c_attn), checkpointed = plain bit for bit", () => {
  const config = parseModelConfig({
    model_type: "gpt2",
    n_embd: 16,
    n_layer: 2,
    n_head: 4,
    n_positions: 32,
    vocab_size: 37,
    layer_norm_epsilon: 1e-5,
    activation_function: "gelu_new",
  });
  for (const k of kernels) {
    const model = assembleModel(config, initModelTensors(config, { seed: 3, std: 0.2, biasStd: 0.2 }), "f32", "gpt2");
    const rng = new Rng(5);
    const lora = defaultLoraConfig({ r: 3, loraAlpha: 6, targetModules: ["c_attn", "c_proj", "c_fc"] });
    attachLora(model, { ...lora, initLoraWeights: false }, () => rng.next());
    const input = randomInput(3, 8, 37, 17, 3);
    assertSameRun(`gpt2 ${k.name}, groups of 1`, k, model, loraParams(model), input, undefined, 1);
    assert.ok(run(k, model, loraParams(model), input, true, undefined, 1).micro);
  }
});
