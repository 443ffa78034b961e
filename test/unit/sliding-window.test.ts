/**
 * Sliding-window attention in the Llama-style families (src/model/arch/llama-style.ts, llama-block.ts): Mistral's
 * sliding_window on every layer, Qwen2's with use_sliding_window from max_window_layers up. LoRA gradients against
 * finite differences (packed, checkpointed), the KV-cache decode equal to the full forward past the window, and a
 * window as long as the sequence equal to full attention.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { refKernels as k } from "../../src/kernels/ref/index.ts";
import { attachLora, loraParams } from "../../src/lora/adapter.ts";
import { defaultLoraConfig } from "../../src/lora/config.ts";
import { allocateActivations } from "../../src/model/activations.ts";
import type { LlamaLayer } from "../../src/model/arch/llama-style.ts";
import { assembleModel } from "../../src/model/assemble.ts";
import { parseModelConfig } from "../../src/model/config.ts";
import { createSession, feedTokens } from "../../src/model/infer.ts";
import { initModelTensors } from "../../src/model/init.ts";
import { evalLossSum } from "../../src/model/loss.ts";
import type { Model } from "../../src/model/model.ts";
import { Rng } from "../../src/tensor/rng.ts";
import { checkDirectional } from "../helpers/gradcheck.ts";
import { randomInput } from "../helpers/random-model.ts";

const V = 37;
const BASE = {
  hidden_size: 16,
  num_hidden_layers: 2,
  num_attention_heads: 4,
  num_key_value_heads: 2,
  intermediate_size: 24,
  vocab_size: V,
  max_position_embeddings: 64,
  rms_norm_eps: 1e-6,
};

function tiny(raw: Record<string, unknown>, seed: number): Model<LlamaLayer> {
  const config = parseModelConfig({ ...BASE, ...raw });
  const tensors = initModelTensors(config, { seed, std: 0.2, normJitter: 0.1 });
  const model = assembleModel(config, tensors, "f32", "tiny") as Model<LlamaLayer>;
  const rng = new Rng(seed + 100);
  const lora = defaultLoraConfig({
    r: 2,
    loraAlpha: 4,
    targetModules: ["q_proj", "k_proj", "v_proj", "o_proj"],
    initLoraWeights: false,
  });
  attachLora(model as Model, lora, () => rng.next());
  return model;
}

const windows = (m: Model<LlamaLayer>) => m.layers.map((l) => l.window);

test("which layers get a window: Mistral every layer; Qwen2 only with use_sliding_window, from max_window_layers", () => {
  assert.deepEqual(windows(tiny({ model_type: "mistral", sliding_window: 3 }, 1)), [3, 3]);
  assert.deepEqual(windows(tiny({ model_type: "mistral", sliding_window: null }, 1)), [0, 0]);
  assert.deepEqual(windows(tiny({ model_type: "llama", sliding_window: 3 }, 1)), [0, 0]);
  const qwen = { model_type: "qwen2", sliding_window: 3, max_window_layers: 1 };
  assert.deepEqual(windows(tiny({ ...qwen, use_sliding_window: true }, 1)), [0, 3]);
  assert.deepEqual(windows(tiny({ ...qwen, use_sliding_window: false }, 1)), [0, 0]);
  assert.deepEqual(windows(tiny({ ...qwen, use_sliding_window: true, max_window_layers: 0 }, 1)), [3, 3]);
  assert.throws(
    () => parseModelConfig({ ...BASE, ...qwen, use_sliding_window: true, max_window_layers: -1 }),
    /"max_window_layers" must be a non-negative integer/,
  );
  assert.throws(() => parseModelConfig({ ...BASE, model_type: "mistral", sliding_window: 0 }), /"sliding_window"/);
});

test("Mistral with a window of 3: LoRA gradients match finite differences (packed, checkpointed)", () => {
  const model = tiny({ model_type: "mistral", sliding_window: 3 }, 2) as Model;
  const input = randomInput(2, 8, V, 3, 4);
  checkDirectional(model, loraParams(model), input, 4);
  input.seg = Int32Array.from({ length: 16 }, (_, i) => (i % 8 < 2 ? 0 : 1));
  input.pos = Int32Array.from({ length: 16 }, (_, i) => (i % 8 < 2 ? i % 8 : (i % 8) - 2));
  checkDirectional(model, loraParams(model), input, 5, { checkpoint: true });
});

test("Qwen2 with use_sliding_window on layer 1: gradients match finite differences", () => {
  const model = tiny({ model_type: "qwen2", sliding_window: 2, use_sliding_window: true, max_window_layers: 1 }, 6);
  checkDirectional(model as Model, loraParams(model as Model), randomInput(2, 7, V, 7, 3), 8);
});

test("a window as long as the sequence is full attention; a shorter one changes the loss", () => {
  const input = randomInput(2, 8, V, 9);
  const loss = (raw: Record<string, unknown>) => {
    const m = tiny({ model_type: "mistral", ...raw }, 10) as Model;
    return evalLossSum(k, m, allocateActivations(m, 2, 8, { withGrad: false }), input);
  };
  assert.equal(loss({ sliding_window: 8 }), loss({}));
  assert.notEqual(loss({ sliding_window: 3 }), loss({}));
});

test("KV-cache logits equal the full forward past the window (Mistral 4, Qwen2 3 on layer 1)", () => {
  for (const raw of [
    { model_type: "mistral", sliding_window: 4 },
    { model_type: "qwen2", sliding_window: 3, use_sliding_window: true, max_window_layers: 1 },
  ]) {
    const model = tiny(raw, 11) as Model;
    const T = 11;
    const input = randomInput(1, T, V, 12);
    const full = new Float32Array(T * V);
    evalLossSum(k, model, allocateActivations(model, 1, T, { withGrad: false }), input, full);
    for (const chunk of [64, 3, 1]) {
      const session = createSession(model, T, chunk);
      let logits = feedTokens(k, session, input.ids.subarray(0, 3));
      for (let t = 2; t < T; t++) {
        if (t > 2) logits = feedTokens(k, session, [input.ids[t]!]);
        for (let v = 0; v < V; v++) {
          const what = `${raw.model_type} chunk ${chunk} pos ${t} vocab ${v}`;
          assert.ok(Math.abs(logits[v]! - full[t * V + v]!) < 1e-4, what);
        }
      }
    }
  }
});
