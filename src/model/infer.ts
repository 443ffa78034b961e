/**
 * Inference with a KV cache (batch 1, no gradients): the prompt is run in chunks of up to `chunkTokens` rows
 * (prefill), then one token at a time (decode). LoRA adapters apply unmerged through the same linear layers.
 * Buffers are sized once per session; decoding allocates only a few typed-array views per token.
 */

import type { Kernels } from "../kernels/types.ts";
import type { AdapterCache } from "../nn/adapter-hooks.ts";
import { inferMatmulNT } from "../nn/linear.ts";
import { softcapForward } from "../nn/softcap.ts";
import { alignedFloat32 } from "../tensor/aligned.ts";
import type { Buffers } from "./arch/spec.ts";
import type { Model } from "./model.ts";

export interface InferenceSession {
  model: Model;
  maxTokens: number;
  chunkTokens: number;
  /** Tokens already in the cache. */
  length: number;
  kCache: Float32Array[]; // per layer [maxTokens, Hkv]
  vCache: Float32Array[]; // per layer [maxTokens, Hkv]
  buf: {
    x: Float32Array; // [chunk, C] the residual stream
    pos: Int32Array; // [chunk]
    ids: Int32Array; // [chunk]
    last: Float32Array; // [C] the final norm of the last row
    top: Buffers; // what the final norm saves, for one row
    logits: Float32Array; // [V] of the last token
  };
  /** The family's work buffers for one chunk. */
  work: Buffers;
  /** Scratch for every linear's adapter in turn: each buffer an adapter names, sized for the largest. */
  adapter: AdapterCache;
}

const allocate = (sizes: Record<string, number>): Buffers =>
  Object.fromEntries(Object.entries(sizes).map(([name, n]) => [name, new Float32Array(n)]));

export function createSession(model: Model, maxTokens: number, chunkTokens = 64): InferenceSession {
  const c = model.config;
  const hkv = c.numKvHeads * c.headDim;
  const n = chunkTokens;
  const perRow: Record<string, number> = {};
  for (const lin of model.linears) {
    for (const [name, size] of Object.entries(lin.adapter?.cacheSizes(false) ?? {}))
      perRow[name] = Math.max(perRow[name] ?? 0, size);
  }
  return {
    model,
    maxTokens,
    chunkTokens,
    length: 0,
    kCache: model.layers.map(() => alignedFloat32(maxTokens * hkv)), // streamed once per token, like weights
    vCache: model.layers.map(() => alignedFloat32(maxTokens * hkv)),
    buf: {
      x: new Float32Array(n * c.hiddenSize),
      pos: new Int32Array(n),
      ids: new Int32Array(n),
      last: new Float32Array(c.hiddenSize),
      top: allocate(model.family.activations(c, 1).top),
      logits: new Float32Array(c.vocabSize),
    },
    work: allocate(model.family.inferenceBuffers(c, n)),
    adapter: Object.fromEntries(Object.entries(perRow).map(([name, size]) => [name, new Float32Array(n * size)])),
  };
}

/** Appends `tokens` to the sequence and returns the next-token logits after the last one ([V], reused buffer). */
export function feedTokens(k: Kernels, s: InferenceSession, tokens: ArrayLike<number>): Float32Array {
  if (tokens.length === 0) throw new Error("feedTokens: no tokens");
  if (s.length + tokens.length > s.maxTokens) {
    throw new Error(`the sequence would exceed the session's ${s.maxTokens} tokens`);
  }
  for (let start = 0; start < tokens.length; start += s.chunkTokens) {
    const n = Math.min(s.chunkTokens, tokens.length - start);
    runChunk(k, s, tokens, start, n, start + n === tokens.length);
  }
  return s.buf.logits;
}

function runChunk(
  k: Kernels,
  s: InferenceSession,
  tokens: ArrayLike<number>,
  start: number,
  n: number,
  last: boolean,
): void {
  const { model, buf } = s;
  const f = model.family;
  const c = model.config;
  const C = c.hiddenSize;
  const ids = buf.ids;
  for (let i = 0; i < n; i++) {
    ids[i] = tokens[start + i]!;
    buf.pos[i] = s.length + i;
  }
  const pos = buf.pos.subarray(0, n);
  f.embedForward(k, model, buf.x, ids, pos, n);
  const step = {
    x: buf.x,
    n,
    past: s.length,
    pos,
    kCache: s.kCache[0]!,
    vCache: s.vCache[0]!,
    work: s.work,
    adapter: s.adapter,
  };
  for (let l = 0; l < model.layers.length; l++) {
    step.kCache = s.kCache[l]!;
    step.vCache = s.vCache[l]!;
    f.inferenceStep(k, model, model.layers[l], step);
  }
  if (!last) {
    s.length += n;
    return;
  }
  const lastRow = buf.x.subarray((n - 1) * C, n * C);
  f.finalForward(k, model, buf.last, lastRow, buf.top, 1);
  inferMatmulNT(k, buf.logits, buf.last, model.lmHead, 1, c.vocabSize, C);
  const cap = f.logitSoftcap?.(c) ?? 0;
  if (cap > 0) softcapForward(buf.logits, c.vocabSize, cap);
  s.length += n;
}
