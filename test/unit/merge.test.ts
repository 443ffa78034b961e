/** Merging LoRA into the weights: merged loss = adapter loss, merged tokens = adapter tokens, unmerge restores. */
import assert from "node:assert/strict";
import { test } from "node:test";
import { refKernels as k } from "../../src/kernels/ref/index.ts";
import { attachLora } from "../../src/lora/adapter.ts";
import { defaultLoraConfig } from "../../src/lora/config.ts";
import { mergeLora } from "../../src/lora/merge.ts";
import type { LoraAdapter } from "../../src/lora/methods/lora.ts";
import { allocateActivations } from "../../src/model/activations.ts";
import { generateTokens } from "../../src/model/generate.ts";
import { evalLossSum } from "../../src/model/loss.ts";
import { Rng } from "../../src/tensor/rng.ts";
import { randomInput, randomModel } from "../helpers/random-model.ts";

test("merged model loss equals adapter loss; greedy tokens are identical", () => {
  const model = randomModel({ model_type: "qwen2" }, 31);
  const rng = new Rng(2);
  attachLora(
    model,
    defaultLoraConfig({ targetModules: "all-linear", initLoraWeights: false, r: 4 }),
    () => rng.next(),
    false,
  );
  const input = randomInput(2, 9, model.config.vocabSize, 3);
  const acts = allocateActivations(model, 2, 9, { withGrad: false });
  const adapterLoss = evalLossSum(k, model, acts, input);
  const adapterTokens = generateTokens(k, model, [1, 2, 3], { maxTokens: 10, stopIds: [] }).ids;
  assert.equal(mergeLora(k, model), 14);
  assert.ok(model.linears.every((l) => l.adapter === null));
  const mergedLoss = evalLossSum(k, model, acts, input);
  assert.ok(Math.abs(mergedLoss - adapterLoss) <= 1e-5 * Math.abs(adapterLoss), `${mergedLoss} vs ${adapterLoss}`);
  assert.deepEqual(generateTokens(k, model, [1, 2, 3], { maxTokens: 10, stopIds: [] }).ids, adapterTokens);
});

test("unmerge restores the base weights within f32 rounding", () => {
  const model = randomModel({}, 32);
  const before = model.linears.map((l) => Float32Array.from(l.weight.data as Float32Array));
  const rng = new Rng(4);
  attachLora(
    model,
    defaultLoraConfig({ targetModules: "all-linear", initLoraWeights: false }),
    () => rng.next(),
    false,
  );
  const saved = model.linears.map((l) => l.adapter);
  mergeLora(k, model, 1);
  model.linears.forEach((l, i) => {
    l.adapter = saved[i]!;
  });
  mergeLora(k, model, -1);
  model.linears.forEach((l, i) => {
    const w = l.weight.data as Float32Array;
    const ref = before[i]!;
    for (let j = 0; j < w.length; j++)
      assert.ok(Math.abs(w[j]! - ref[j]!) <= 1e-6 * Math.max(1, Math.abs(ref[j]!)), `${l.name}[${j}]`);
  });
});

test("merge refuses non-finite results and leaves the weights untouched", () => {
  const model = randomModel({}, 33);
  const rng = new Rng(5);
  attachLora(model, defaultLoraConfig({ initLoraWeights: false }), () => rng.next(), false);
  const lin = model.linears.find((l) => l.adapter)!;
  (lin.adapter as LoraAdapter).B[0] = Number.POSITIVE_INFINITY;
  const w0 = Float32Array.from(model.linears[0]!.weight.data as Float32Array);
  assert.throws(
    () => mergeLora(k, model),
    (e: Error & { code?: string }) => e.code === "ERR_NONFINITE" && e.message.includes(lin.name),
  );
  assert.deepEqual(model.linears[0]!.weight.data, w0);
});
