/**
 * A loaded model of any family: weights keyed by their Hugging Face names, in PyTorch shape order, assembled into
 * the family's blocks (model/arch/). Everything above model/ sees only this shape; the family record does the rest.
 */
import type { FileDType } from "../io/safetensors.ts";
import type { Linear } from "../nn/linear.ts";
import type { StorageDType, StoredTensor } from "../tensor/stored-tensor.ts";
import { blockIndex, type ModelFamily, type ParamSpec } from "./arch/spec.ts";
import type { ModelConfig } from "./config.ts";

/** An f32 parameter outside the linears (norm weight, position embedding), with its gradient in full fine-tuning. */
export interface F32Param {
  /** Hugging Face name ("model.norm.weight"). */
  name: string;
  shape: number[];
  data: Float32Array;
  grad: Float32Array | null;
}

/**
 * `L` is the family's block type and `T` its weights outside the blocks; code outside the family sees
 * Model (both unknown) and reaches them only through `family`.
 */
export interface Model<L = unknown, T = unknown> {
  family: ModelFamily<L, T>;
  config: ModelConfig;
  /** How the big weights (linears, embedding, head) are kept in memory; norms and biases are always f32. */
  dtype: StorageDType;
  /** dtype of the checkpoint's weights on disk (what a merged model is written back as). */
  sourceDtype: FileDType;
  /** Every tensor of the model (the family's params() for this config). */
  specs: ParamSpec[];
  /** Every tensor as the model computes with it, by Hugging Face name (transposed ones in memory layout). */
  tensors: Map<string, StoredTensor>;
  /** The token embedding table [V, C]. */
  embed: StoredTensor;
  /** Gradient of the embedding table (full fine-tuning; receives the tied head's gradient too). */
  dEmbed: Float32Array | null;
  /** The family's blocks, in order. */
  layers: L[];
  /** The family's weights outside the blocks (final norm, RoPE tables, …). */
  top: T;
  /** Every linear except the output head: block by block, each in the family's order. */
  linears: Linear[];
  /** The output head [V, C]: the embedding table itself when tie_word_embeddings. */
  lmHead: StoredTensor;
  dLmHead: Float32Array | null;
  /** Positions the model was loaded for: sequences (prompt + generated tokens) must fit in them. */
  positions: number;
}

/** Parameter count of the base model (the tied head counted once). */
export function countBaseParameters(model: Model): number {
  return countSpecParameters(model.specs);
}

/** Values of every tensor the specs list. */
export function countSpecParameters(specs: ParamSpec[]): number {
  return specs.reduce((n, s) => n + s.shape.reduce((a, b) => a * b, 1), 0);
}

/** The spec of the embedding table. */
export function embeddingSpec(specs: ParamSpec[]): ParamSpec {
  const spec = specs.find((s) => s.role === "embedding");
  if (spec === undefined) throw new Error("model family lists no embedding tensor");
  return spec;
}

/** The block index of a module or tensor name of this model, else null. */
export function layerOfName(model: Model, name: string): number | null {
  return blockIndex(model.family.blockPrefix, name);
}
