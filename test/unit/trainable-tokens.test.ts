/**
 * New tokens (PEFT's trainable_token_indices): the vocabulary grows with rows at the old rows' mean; the new rows'
 * gradients match finite differences (tied and untied head, LoRA beside them); training moves only them (old rows
 * bit-identical); the adapter saves them under PEFT's keys with trainable_token_indices and reloads with the same
 * loss into a base of the old size.
 */
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { isLoratuneError } from "../../src/errors.ts";
import { readSafetensors } from "../../src/io/safetensors.ts";
import { refKernels as k } from "../../src/kernels/ref/index.ts";
import { attachLora, loraParams } from "../../src/lora/adapter.ts";
import { defaultLoraConfig } from "../../src/lora/config.ts";
import { loadAdapter, saveAdapter } from "../../src/lora/peft-files.ts";
import { planAdapter } from "../../src/lora/plan.ts";
import {
  newTokenIndices,
  readTokenIndices,
  resizeVocabulary,
  tokenIndicesJson,
  trainTokenRows,
} from "../../src/lora/trainable-tokens.ts";
import { allocateActivations } from "../../src/model/activations.ts";
import type { ModelInput } from "../../src/model/forward.ts";
import { countLabelTokens, lossAndGrad } from "../../src/model/loss.ts";
import type { Model } from "../../src/model/model.ts";
import { Rng } from "../../src/tensor/rng.ts";
import { zeroGrads } from "../../src/tensor/trainable.ts";
import { checkDirectional, meanLoss } from "../helpers/gradcheck.ts";
import { randomInput, randomModel } from "../helpers/random-model.ts";

const tmp = mkdtempSync(join(tmpdir(), "loratune-tokens-"));
after(() => rmSync(tmp, { recursive: true, force: true }));

const NEW = 3;

/** A model of `tied` kind with 3 new tokens and a LoRA beside them; returns its params. */
function setup(tied: boolean, seed = 3) {
  const model = randomModel({ tie_word_embeddings: tied }, seed);
  const V = model.config.vocabSize;
  const rng = new Rng(7);
  const config = defaultLoraConfig({ r: 2, loraAlpha: 4, initLoraWeights: false });
  resizeVocabulary(model, V + NEW);
  config.trainableTokenIndices = newTokenIndices(model, V, NEW);
  attachLora(model, config, () => rng.next());
  const params = [...loraParams(model), ...trainTokenRows(model, config.trainableTokenIndices)];
  return { model, V, config, params };
}

/** Random ids and targets over the grown vocabulary, with every new token among both. */
function inputWithNewTokens(V: number, seed: number): ModelInput {
  const input = randomInput(2, 6, V, seed);
  for (let i = 0; i < NEW; i++) {
    input.ids[i * 3] = V + i;
    input.targets[i * 3 + 1] = V + i;
  }
  return input;
}

test("resizing puts the new rows at the mean of the old ones (embedding and untied head), vocab_size follows", () => {
  const model = randomModel({ tie_word_embeddings: false }, 3);
  const [V, C] = model.embed.shape as [number, number];
  const before = Float32Array.from(model.embed.data as Float32Array);
  resizeVocabulary(model, V + 2);
  assert.deepEqual(model.embed.shape, [V + 2, C]);
  assert.deepEqual(model.lmHead.shape, [V + 2, C]);
  assert.equal(model.config.vocabSize, V + 2);
  const e = model.embed.data as Float32Array;
  assert.deepEqual(e.subarray(0, V * C), before);
  for (let c = 0; c < C; c++) {
    let mean = 0;
    for (let v = 0; v < V; v++) mean += before[v * C + c]!;
    assert.ok(Math.abs(e[V * C + c]! - mean / V) < 1e-6);
    assert.equal(e[(V + 1) * C + c], e[V * C + c]);
  }
  const tied = randomModel({}, 3);
  resizeVocabulary(tied, V + 2);
  assert.equal(tied.lmHead, tied.embed, "a tied head stays the table");
});

for (const tied of [true, false]) {
  test(`new-row gradients match finite differences (${tied ? "tied" : "untied"} head, LoRA beside)`, () => {
    const { model, V, params } = setup(tied);
    const rows = params.slice(-(tied ? 1 : 2));
    assert.deepEqual(
      rows.map((p) => p.name),
      [
        "base_model.model.model.embed_tokens.token_adapter.trainable_tokens_delta",
        ...(tied ? [] : ["base_model.model.lm_head.token_adapter.trainable_tokens_delta"]),
      ],
    );
    const input = inputWithNewTokens(V, 11);
    checkDirectional(model, params, input, 5);
    checkDirectional(model, rows, input, 9);
    assert.ok(rows.every((p) => p.grad.some((g) => g !== 0)));
  });
}

/** A few plain gradient steps over every param. */
function trainSteps(model: Model, params: ReturnType<typeof setup>["params"], input: ModelInput, steps: number) {
  const acts = allocateActivations(model, input.B, input.T, { withGrad: true });
  for (let s = 0; s < steps; s++) {
    zeroGrads(params);
    lossAndGrad(k, model, acts, input, 1 / countLabelTokens(input.targets), null);
    for (const p of params) for (let i = 0; i < p.data.length; i++) p.data[i]! -= 0.5 * p.grad[i]!;
  }
}

for (const tied of [true, false]) {
  test(`training moves only the new rows: old rows bit-identical (${tied ? "tied" : "untied"})`, () => {
    const { model, V, params } = setup(tied);
    const C = model.embed.shape[1]!;
    const embed0 = Float32Array.from(model.embed.data as Float32Array);
    const head0 = Float32Array.from(model.lmHead.data as Float32Array);
    const input = inputWithNewTokens(V, 13);
    const loss0 = meanLoss(model, input);
    trainSteps(model, params, input, 4);
    assert.ok(meanLoss(model, input) < loss0);
    const embed = model.embed.data as Float32Array;
    const head = model.lmHead.data as Float32Array;
    assert.deepEqual(embed.subarray(0, V * C), embed0.subarray(0, V * C));
    assert.deepEqual(head.subarray(0, V * C), head0.subarray(0, V * C));
    assert.notDeepEqual(embed.subarray(V * C), embed0.subarray(V * C));
    if (!tied) assert.notDeepEqual(head.subarray(V * C), head0.subarray(V * C));
  });
}

for (const tied of [true, false]) {
  test(`saved under PEFT's keys with trainable_token_indices; reloads into the old-size base with the same loss (${tied ? "tied" : "untied"})`, () => {
    const { model, V, config, params } = setup(tied);
    const input = inputWithNewTokens(V, 17);
    trainSteps(model, params, input, 2);
    const dir = join(tmp, tied ? "tied" : "untied");
    saveAdapter(dir, model, config, "tiny");
    const json = JSON.parse(readFileSync(join(dir, "adapter_config.json"), "utf8"));
    const ids = [V, V + 1, V + 2];
    assert.deepEqual(json.trainable_token_indices, tied ? ids : { embed_tokens: ids, lm_head: ids });
    const C = model.embed.shape[1]!;
    const file = readSafetensors(join(dir, "adapter_model.safetensors"), "f32");
    const embedKey = "base_model.model.model.embed_tokens.token_adapter.trainable_tokens_delta";
    assert.deepEqual(file.get(embedKey)?.shape, [NEW, C]);
    assert.deepEqual(file.get(embedKey)?.data, (model.embed.data as Float32Array).subarray(V * C));
    assert.equal(file.has("base_model.model.lm_head.token_adapter.trainable_tokens_delta"), !tied);

    const fresh = randomModel({ tie_word_embeddings: tied }, 3);
    assert.equal(fresh.config.vocabSize, V);
    const loaded = loadAdapter(dir, fresh);
    assert.deepEqual(loaded.trainableTokenIndices, tied ? { embed_tokens: ids } : { embed_tokens: ids, lm_head: ids });
    assert.equal(fresh.config.vocabSize, V + NEW);
    assert.deepEqual(fresh.embed.data, model.embed.data);
    assert.deepEqual(fresh.lmHead.data, model.lmHead.data);
    assert.equal(meanLoss(fresh, input), meanLoss(model, input));
  });
}

test("trainable_token_indices reads PEFT's list and dict forms and refuses anything else", () => {
  const fail = (m: string): never => {
    throw new Error(m);
  };
  assert.deepEqual(readTokenIndices({ trainable_token_indices: [5, 6] }, fail), { embed_tokens: [5, 6] });
  assert.deepEqual(readTokenIndices({ trainable_token_indices: { embed_tokens: [5], lm_head: [5] } }, fail), {
    embed_tokens: [5],
    lm_head: [5],
  });
  assert.equal(readTokenIndices({ trainable_token_indices: null }, fail), null);
  assert.throws(() => readTokenIndices({ trainable_token_indices: [-1] }, fail), /must be a list of token ids/);
  assert.throws(() => readTokenIndices({ trainable_token_indices: "x" }, fail), /must be a list of token ids/);
  assert.deepEqual(tokenIndicesJson({ embed_tokens: [1] }), [1]);
  const model = randomModel({}, 3);
  assert.throws(
    () => trainTokenRows(model, { lm_head: [model.config.vocabSize - 1] }),
    (e: unknown) => isLoratuneError(e) && /ties its head to the embedding/.test(e.message),
  );
});

test("the memory plan counts the new rows and their gradient buffer (the whole grown table)", () => {
  const model = randomModel({ tie_word_embeddings: false }, 3);
  const [V, C] = model.embed.shape as [number, number];
  const plain = planAdapter(defaultLoraConfig({}), model.specs).values;
  const ids = [V, V + 1];
  const tied = planAdapter(defaultLoraConfig({ trainableTokenIndices: { embed_tokens: ids } }), model.specs).values;
  assert.equal(tied - plain, 2 * C + Math.ceil(((V + 2) * C) / 4));
  const both = { embed_tokens: ids, lm_head: ids };
  const untied = planAdapter(defaultLoraConfig({ trainableTokenIndices: both }), model.specs).values;
  assert.equal(untied - plain, 2 * (2 * C + Math.ceil(((V + 2) * C) / 4)));
});
