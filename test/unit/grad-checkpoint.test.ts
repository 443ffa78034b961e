/**
 * Activation checkpointing: backward that recomputes each layer's forward from its saved input gives the same
 * loss and bit-identical gradients as the plain arena (every model variant, LoRA with dropout replayed, full fine-tuning),
 * on the reference and the native kernels, in less activation memory. The MLP in row chunks (model/arch/llama-mlp.ts):
 * several chunks, with and without checkpointing, bit-identical to each other, equal to the MLP in one chunk within
 * f32 rounding, and its gradients match finite differences.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { getKernels } from "../../src/kernels/index.ts";
import { refKernels } from "../../src/kernels/ref/index.ts";
import type { Kernels } from "../../src/kernels/types.ts";
import { attachLora, loraParams } from "../../src/lora/adapter.ts";
import { defaultLoraConfig } from "../../src/lora/config.ts";
import { activationBytes, allocateActivations } from "../../src/model/activations.ts";
import type { ModelInput } from "../../src/model/forward.ts";
import { enableFullTraining } from "../../src/model/full-params.ts";
import { countLabelTokens, lossAndGrad } from "../../src/model/loss.ts";
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
) {
  const o = { checkpoint, ...(rowChunk === undefined ? {} : { rowChunk }) };
  const acts = allocateActivations(model, input.B, input.T, o);
  assert.equal(acts.checkpoint, checkpoint);
  assert.equal(activationBytes(model, input.B, input.T, o), acts.bytes, "activationBytes predicts the arena");
  zeroGrads(params);
  const rng = new Rng(99);
  const loss = lossAndGrad(k, model, acts, input, 1 / countLabelTokens(input.targets), () => rng.next());
  return { loss, grads: params.map((p) => p.grad.slice()), bytes: acts.bytes };
}

function assertSameRun(
  label: string,
  k: Kernels,
  model: Model,
  params: TrainableParam[],
  input: ModelInput,
  rowChunk?: number,
) {
  const plain = run(k, model, params, input, false, rowChunk);
  const ckpt = run(k, model, params, input, true, rowChunk);
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
