import assert from "node:assert/strict";
import { test } from "node:test";
import { attachLora } from "../../src/lora/adapter.ts";
import { defaultLoraConfig } from "../../src/lora/config.ts";
import { activationBytes, allocateActivations } from "../../src/model/activations.ts";
import { Rng } from "../../src/tensor/rng.ts";
import { randomModel } from "../helpers/random-model.ts";

test("activationBytes predicts the arena size exactly", () => {
  for (const overrides of [{}, { model_type: "qwen3", head_dim: 8 }]) {
    const model = randomModel(overrides, 1);
    const rng = new Rng(1);
    attachLora(model, defaultLoraConfig({ targetModules: "all-linear", loraDropout: 0.1 }), () => rng.next());
    for (const o of [{ withGrad: true }, { withGrad: false }, { withGrad: true, checkpoint: true }]) {
      assert.equal(activationBytes(model, 3, 7, o), allocateActivations(model, 3, 7, o).bytes, JSON.stringify(o));
    }
    // Checkpointing keeps one set of work buffers instead of one per layer (every layer keeps its input).
    const full = activationBytes(model, 3, 7);
    const ckpt = activationBytes(model, 3, 7, { checkpoint: true });
    assert.ok(ckpt < full, `${ckpt} < ${full}`);
  }
});
