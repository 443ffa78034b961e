/**
 * The bytes one decoded token must read from memory (batch 1, with a KV cache of ctx tokens), the figure a decode
 * row is put against the machine's memory bandwidth with (bandwidth.ts):
 *   Σ over the model's tensors of the bytes it is held in (every weight read once per token, in its held format:
 *     f32, bf16, or a block format's blocks for the linear weights of a q8_0/q4_k model, with --quantize's
 *     fallbacks; norms and biases f32, as the bench's random model holds them)
 *   + the KV cache read: 2 (K and V) · L · ctx · kvHeads · headDim · 4 bytes (loratune's cache is f32; llama.cpp's
 *     is f16 by default, 2 bytes: kvCacheBytes).
 * The token embedding is one row per token, unless the head is tied to it: then the whole table is read as the
 * LM head. Activations, logits and the cache write (one row) are not counted: they are small beside the weights.
 */
import type { ModelConfig } from "../model/config.ts";
import { initKind } from "../model/init.ts";
import { modelParamSpecs } from "../model/specs.ts";
import { formatBytes, weightFormat } from "../tensor/formats/index.ts";
import type { StorageDType } from "../tensor/stored-tensor.ts";
import { randomTensorFormat } from "./random-model.ts";

/** Bytes read per decoded token by a model of `config` with base weights `dtype`, at a context of `ctx` tokens. */
export function decodeBytesPerToken(c: ModelConfig, dtype: StorageDType, ctx: number): number {
  let bytes = 0;
  for (const spec of modelParamSpecs(c)) {
    const format = initKind(spec) === "normal" ? randomTensorFormat(spec, dtype) : "f32";
    const n = spec.shape.reduce((a, b) => a * b, 1);
    const lookup = spec.role === "position" || (spec.role === "embedding" && !c.tieWordEmbeddings);
    bytes += formatBytes(weightFormat(format), lookup ? n / spec.shape[0]! : n);
  }
  return bytes + kvCacheBytes(c, ctx, 4);
}

/** Bytes of a KV cache of ctx tokens with `bytesPerValue`-byte values: 2 (K and V) · L · ctx · kvHeads · headDim. */
export function kvCacheBytes(c: ModelConfig, ctx: number, bytesPerValue: number): number {
  return 2 * c.numLayers * ctx * c.numKvHeads * c.headDim * bytesPerValue;
}
