/** Random-init tiny Llama-family models built in memory, and random batches, for tests. */

import { randomBatch } from "../../src/bench/train-workload.ts";
import type { LlamaLayer, LlamaTop } from "../../src/model/arch/llama-style.ts";
import { assembleModel } from "../../src/model/assemble.ts";
import { type ModelConfig, parseModelConfig } from "../../src/model/config.ts";
import type { ModelInput } from "../../src/model/forward.ts";
import { initModelTensors } from "../../src/model/init.ts";
import type { Model } from "../../src/model/model.ts";
import type { StoredTensor } from "../../src/tensor/stored-tensor.ts";

/** config.json of the tiny test model (tied embeddings unless overridden). */
export function tinyConfigJson(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    model_type: "llama",
    hidden_size: 16,
    num_hidden_layers: 2,
    num_attention_heads: 4,
    num_key_value_heads: 2,
    intermediate_size: 24,
    vocab_size: 37,
    max_position_embeddings: 64,
    rms_norm_eps: 1e-5,
    tie_word_embeddings: true,
    ...overrides,
  };
}

export function tinyConfig(overrides: Record<string, unknown> = {}): ModelConfig {
  return parseModelConfig(tinyConfigJson(overrides));
}

/** HF-named f32 tensors for a config, N(0, std) weights and biases, norms near 1. */
export function randomTensors(c: ModelConfig, seed: number, std = 0.2): Map<string, StoredTensor> {
  return initModelTensors(c, { seed, std, normJitter: 0.1, biasStd: std });
}

/** A model of the Llama-style families (its blocks typed). */
export type LlamaModel = Model<LlamaLayer, LlamaTop>;

export function randomModel(overrides: Record<string, unknown> = {}, seed = 1): LlamaModel {
  const config = tinyConfig(overrides);
  return assembleModel(config, randomTensors(config, seed), "f32", "random-model") as LlamaModel;
}

/** A batch of random ids with next-token targets; with maskEvery > 0 also every maskEvery-th position masked. */
export function randomInput(B: number, T: number, vocab: number, seed: number, maskEvery = 0): ModelInput {
  const input = randomBatch(B, T, vocab, seed);
  if (maskEvery > 0) for (let i = 0; i < B * T; i++) if ((i % T) % maskEvery === 0) input.targets[i] = -100;
  return input;
}
