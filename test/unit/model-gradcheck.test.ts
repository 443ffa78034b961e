/**
 * Finite-difference checks of whole-model gradients on tiny configs: LoRA A/B gradients (every adapted module
 * of the GQA, Qwen2-bias, Qwen3-qk-norm and untied variants) and full-parameter gradients.
 * Directional derivatives along random directions are compared, which is robust in f32.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { attachLora, loraParams } from "../../src/lora/adapter.ts";
import { defaultLoraConfig } from "../../src/lora/config.ts";
import { enableFullTraining } from "../../src/model/full-params.ts";
import { Rng } from "../../src/tensor/rng.ts";
import { checkDirectional, meanLoss } from "../helpers/gradcheck.ts";
import { randomInput, randomModel } from "../helpers/random-model.ts";

const variants: [string, Record<string, unknown>][] = [
  ["llama GQA tied", {}],
  ["llama untied", { tie_word_embeddings: false, num_key_value_heads: 4 }],
  ["qwen2 biases", { model_type: "qwen2" }],
  ["qwen3 qk-norm", { model_type: "qwen3", head_dim: 8 }],
  [
    "llama3 rope scaling",
    {
      rope_scaling: {
        rope_type: "llama3",
        factor: 8,
        low_freq_factor: 1,
        high_freq_factor: 4,
        original_max_position_embeddings: 16,
      },
    },
  ],
];

for (const [label, overrides] of variants) {
  test(`LoRA gradients match finite differences (${label}, all-linear)`, () => {
    const model = randomModel(overrides, 3);
    const rng = new Rng(7);
    attachLora(
      model,
      defaultLoraConfig({ r: 3, loraAlpha: 6, targetModules: "all-linear", initLoraWeights: false }),
      () => rng.next(),
    );
    for (const p of loraParams(model)) for (let i = 0; i < p.data.length; i++) p.data[i]! *= 0.5;
    checkDirectional(model, loraParams(model), randomInput(2, 7, model.config.vocabSize, 11, 3), 5);
  });
}

test("full-parameter gradients match finite differences (qwen2, untied)", () => {
  const model = randomModel({ model_type: "qwen2", tie_word_embeddings: false }, 4);
  checkDirectional(model, enableFullTraining(model), randomInput(2, 6, model.config.vocabSize, 12, 4), 6);
});

test("full-parameter gradients match finite differences (qwen3, tied)", () => {
  const model = randomModel({ model_type: "qwen3", head_dim: 8 }, 5);
  checkDirectional(model, enableFullTraining(model), randomInput(1, 9, model.config.vocabSize, 13), 7);
});

test("LoRA with B = 0 (PEFT init) leaves the base model's loss unchanged", () => {
  const model = randomModel({}, 6);
  const input = randomInput(2, 8, model.config.vocabSize, 14);
  const before = meanLoss(model, input);
  const rng = new Rng(1);
  attachLora(model, defaultLoraConfig({ targetModules: "all-linear" }), () => rng.next());
  assert.equal(meanLoss(model, input), before);
});
