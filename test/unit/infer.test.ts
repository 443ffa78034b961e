/**
 * KV-cache inference against the full training forward: the next-token logits at every position agree,
 * whether the prompt is fed at once, in chunks, or token by token; with and without LoRA.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { refKernels as k } from "../../src/kernels/ref/index.ts";
import { attachLora } from "../../src/lora/adapter.ts";
import { defaultLoraConfig } from "../../src/lora/config.ts";
import { allocateActivations } from "../../src/model/activations.ts";
import { generateTokens } from "../../src/model/generate.ts";
import { createSession, feedTokens } from "../../src/model/infer.ts";
import { evalLossSum } from "../../src/model/loss.ts";
import { argmax } from "../../src/model/sampling.ts";
import { Rng } from "../../src/tensor/rng.ts";
import { randomInput, randomModel } from "../helpers/random-model.ts";

for (const [label, overrides] of [
  ["llama GQA", {}],
  ["qwen3", { model_type: "qwen3", head_dim: 8 }],
  ["qwen2", { model_type: "qwen2" }],
] as const) {
  test(`KV-cache logits equal the full forward at every position (${label}, LoRA all-linear)`, () => {
    const model = randomModel(overrides, 21);
    const rng = new Rng(3);
    attachLora(
      model,
      defaultLoraConfig({ targetModules: "all-linear", initLoraWeights: false, r: 2 }),
      () => rng.next(),
      false,
    );
    const T = 11;
    const V = model.config.vocabSize;
    const input = randomInput(1, T, V, 5);
    const full = new Float32Array(T * V);
    evalLossSum(k, model, allocateActivations(model, 1, T, { withGrad: false }), input, full);
    for (const chunk of [64, 4, 1]) {
      const session = createSession(model, T, chunk);
      // feed the first 5 tokens at once, then one at a time
      let logits = feedTokens(k, session, input.ids.subarray(0, 5));
      for (let t = 4; t < T; t++) {
        if (t > 4) logits = feedTokens(k, session, [input.ids[t]!]);
        for (let v = 0; v < V; v++) {
          assert.ok(Math.abs(logits[v]! - full[t * V + v]!) < 1e-4, `chunk ${chunk} pos ${t} vocab ${v}`);
        }
      }
    }
  });
}

test("greedy generation picks the argmax of the full forward and stops at EOS", () => {
  const model = randomModel({}, 22);
  const prompt = [1, 2, 3];
  const res = generateTokens(k, model, prompt, { maxTokens: 6, stopIds: [] });
  assert.equal(res.ids.length, 6);
  const seq = [...prompt];
  for (const id of res.ids) {
    const T = seq.length;
    const input = {
      B: 1,
      T,
      ids: Int32Array.from(seq),
      targets: new Int32Array(T).fill(-100),
      pos: Int32Array.from(seq.keys()),
      seg: null,
    };
    const logits = new Float32Array(T * model.config.vocabSize);
    evalLossSum(k, model, allocateActivations(model, 1, T, { withGrad: false }), input, logits);
    assert.equal(id, argmax(logits.subarray((T - 1) * model.config.vocabSize)));
    seq.push(id);
  }
  const stopAt = res.ids[2]!;
  const stopped = generateTokens(k, model, prompt, { maxTokens: 6, stopIds: [stopAt] });
  assert.equal(stopped.stoppedBy, "eos");
  assert.deepEqual(stopped.ids, res.ids.slice(0, res.ids.indexOf(stopAt) + 1));
});

test("sampling with a seed is reproducible and respects top-k = 1", () => {
  const model = randomModel({}, 23);
  const a = generateTokens(k, model, [4, 5], { maxTokens: 8, temperature: 1, seed: 9, stopIds: [] });
  const b = generateTokens(k, model, [4, 5], { maxTokens: 8, temperature: 1, seed: 9, stopIds: [] });
  assert.deepEqual(a.ids, b.ids);
  const greedy = generateTokens(k, model, [4, 5], { maxTokens: 8, stopIds: [] });
  const topk1 = generateTokens(k, model, [4, 5], { maxTokens: 8, temperature: 1.5, topK: 1, seed: 1, stopIds: [] });
  assert.deepEqual(topk1.ids, greedy.ids);
});

test("generation stops when the context is full, and a prompt that fills it is a usage error", () => {
  const model = randomModel({}, 31);
  const context = model.positions;
  const prompt = Array.from({ length: context - 3 }, (_, i) => 4 + (i % 20));
  const res = generateTokens(k, model, prompt, { maxTokens: 10, stopIds: [] });
  assert.equal(res.stoppedBy, "context");
  assert.equal(prompt.length + res.ids.length, context);
  const exact = generateTokens(k, model, prompt, { maxTokens: 3, stopIds: [] });
  assert.equal(exact.stoppedBy, "max_tokens");
  assert.deepEqual(exact.ids, res.ids);
  const full = Array.from({ length: context }, (_, i) => 4 + (i % 20));
  assert.throws(
    () => generateTokens(k, model, full, { maxTokens: 1 }),
    (e: Error & { code?: string }) =>
      e.code === "ERR_USAGE" && /prompt has \d+ tokens/.test(e.message) && /shorten the prompt/.test(e.message),
  );
});
