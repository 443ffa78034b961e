/**
 * LoRA gradients through a quantized base (--quantize q8_0 and q4_k): every linear weight held in its block format,
 * the forward y = x·Wᵀ and backward dx = dy·W dequantizing block by block, checked against finite differences of
 * the loss. Sizes are whole 256-value blocks so that every linear really is quantized (asserted).
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { refKernels } from "../../src/kernels/ref/index.ts";
import { attachLora, loraParams } from "../../src/lora/adapter.ts";
import { defaultLoraConfig } from "../../src/lora/config.ts";
import { assembleModel } from "../../src/model/assemble.ts";
import { quantizeLinears } from "../../src/model/quantize.ts";
import { Rng } from "../../src/tensor/rng.ts";
import { checkDirectional } from "../helpers/gradcheck.ts";
import { randomInput, randomTensors, tinyConfig } from "../helpers/random-model.ts";

for (const q of ["q8_0", "q4_k"] as const) {
  test(`LoRA gradients through a ${q} base match finite differences`, () => {
    const config = tinyConfig({ hidden_size: 256, intermediate_size: 256, num_hidden_layers: 1 });
    const model = assembleModel(config, randomTensors(config, 3, 0.05), "f32", "random-model");
    quantizeLinears(refKernels, model, q);
    assert.ok(model.linears.length > 0 && model.linears.every((l) => l.weight.dtype === q));
    const rng = new Rng(7);
    attachLora(
      model,
      defaultLoraConfig({ r: 3, loraAlpha: 6, targetModules: "all-linear", initLoraWeights: false }),
      () => rng.next(),
    );
    for (const p of loraParams(model)) for (let i = 0; i < p.data.length; i++) p.data[i]! *= 0.1;
    checkDirectional(model, loraParams(model), randomInput(2, 5, config.vocabSize, 11, 3), 5);
  });
}
