/**
 * Inference with a KV cache (batch 1, no gradients): the prompt is run in chunks of up to `chunkTokens` rows
 * (prefill), then one token at a time (decode). LoRA adapters apply unmerged through the same linear layers.
 * Buffers are sized once per session; decoding allocates only a few typed-array views per token.
 */

import type { Kernels } from "../kernels/types.ts";
import { baseMatmulNT, type LoraCache, linearForward } from "../nn/linear.ts";
import { alignedFloat32 } from "../tensor/aligned.ts";
import type { LlamaLayer, LlamaModel } from "./llama.ts";

export interface InferenceSession {
  model: LlamaModel;
  maxTokens: number;
  chunkTokens: number;
  /** Tokens already in the cache. */
  length: number;
  kCache: Float32Array[]; // per layer [maxTokens, Hkv]
  vCache: Float32Array[]; // per layer [maxTokens, Hkv]
  buf: {
    x: Float32Array; // [chunk, C]
    ln: Float32Array; // [chunk, C]
    rstd: Float32Array; // [chunk·max(heads,1)]
    q: Float32Array; // [chunk, Hq]
    k: Float32Array; // [chunk, Hkv]
    v: Float32Array; // [chunk, Hkv]
    att: Float32Array; // [chunk, Hq]
    h: Float32Array; // [chunk, C]
    gate: Float32Array; // [chunk, F]
    up: Float32Array; // [chunk, F]
    pos: Int32Array; // [chunk]
    ids: Int32Array; // [chunk]
    logits: Float32Array; // [V] of the last token
  };
  lora: LoraCache;
}

export function createSession(model: LlamaModel, maxTokens: number, chunkTokens = 64): InferenceSession {
  const c = model.config;
  const hq = c.numHeads * c.headDim;
  const hkv = c.numKvHeads * c.headDim;
  const n = chunkTokens;
  let maxRank = 1;
  for (const l of model.layers)
    for (const lin of [l.q, l.k, l.v, l.o, l.gate, l.up, l.down]) maxRank = Math.max(maxRank, lin.lora?.r ?? 1);
  return {
    model,
    maxTokens,
    chunkTokens,
    length: 0,
    kCache: model.layers.map(() => alignedFloat32(maxTokens * hkv)), // streamed once per token, like weights
    vCache: model.layers.map(() => alignedFloat32(maxTokens * hkv)),
    buf: {
      x: new Float32Array(n * c.hiddenSize),
      ln: new Float32Array(n * c.hiddenSize),
      rstd: new Float32Array(n * c.numHeads),
      q: new Float32Array(n * hq),
      k: new Float32Array(n * hkv),
      v: new Float32Array(n * hkv),
      att: new Float32Array(n * hq),
      h: new Float32Array(n * c.hiddenSize),
      gate: new Float32Array(n * c.intermediateSize),
      up: new Float32Array(n * c.intermediateSize),
      pos: new Int32Array(n),
      ids: new Int32Array(n),
      logits: new Float32Array(c.vocabSize),
    },
    lora: { xa: new Float32Array(n * maxRank), dropScale: null, xDrop: null },
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
  const c = model.config;
  const C = c.hiddenSize;
  const ids = buf.ids;
  for (let i = 0; i < n; i++) {
    ids[i] = tokens[start + i]!;
    buf.pos[i] = s.length + i;
  }
  if (model.embed.dtype === "f32") k.embeddingForward(buf.x, ids, model.embed.data as Float32Array, n, C);
  else k.embeddingForwardBf16(buf.x, ids, model.embed.data as Uint16Array, n, C);
  for (let l = 0; l < model.layers.length; l++) layerStep(k, s, model.layers[l]!, l, n);
  if (!last) {
    s.length += n;
    return;
  }
  const lastRow = buf.x.subarray((n - 1) * C, n * C);
  k.rmsnormForward(buf.ln, buf.rstd, lastRow, model.norm.data, 1, C, c.rmsNormEps);
  baseMatmulNT(k, buf.logits, buf.ln, model.lmHead, 1, c.vocabSize, C, false);
  s.length += n;
}

function layerStep(k: Kernels, s: InferenceSession, w: LlamaLayer, l: number, n: number): void {
  const { model, buf } = s;
  const c = model.config;
  const C = c.hiddenSize;
  const hkv = c.numKvHeads * c.headDim;
  const pos = buf.pos.subarray(0, n);
  const lora = s.lora;
  k.rmsnormForward(buf.ln, buf.rstd, buf.x, w.inputNorm.data, n, C, c.rmsNormEps);
  linearForward(k, buf.q, buf.ln, w.q, n, lora, null);
  linearForward(k, buf.k, buf.ln, w.k, n, lora, null);
  linearForward(k, buf.v, buf.ln, w.v, n, lora, null);
  if (w.qNorm && w.kNorm) {
    k.rmsnormForward(buf.q, buf.rstd, buf.q, w.qNorm.data, n * c.numHeads, c.headDim, c.rmsNormEps);
    k.rmsnormForward(buf.k, buf.rstd, buf.k, w.kNorm.data, n * c.numKvHeads, c.headDim, c.rmsNormEps);
  }
  k.ropeForward(buf.q, pos, model.rope.cos, model.rope.sin, n, c.numHeads, c.headDim);
  k.ropeForward(buf.k, pos, model.rope.cos, model.rope.sin, n, c.numKvHeads, c.headDim);
  s.kCache[l]!.set(buf.k.subarray(0, n * hkv), s.length * hkv);
  s.vCache[l]!.set(buf.v.subarray(0, n * hkv), s.length * hkv);
  k.attentionKV(buf.att, buf.q, s.kCache[l]!, s.vCache[l]!, n, s.length, c.numHeads, c.numKvHeads, c.headDim);
  linearForward(k, buf.h, buf.att, w.o, n, lora, null);
  k.addInPlace(buf.h, buf.x, n * C);
  k.rmsnormForward(buf.ln, buf.rstd, buf.h, w.postNorm.data, n, C, c.rmsNormEps);
  linearForward(k, buf.gate, buf.ln, w.gate, n, lora, null);
  linearForward(k, buf.up, buf.ln, w.up, n, lora, null);
  k.swigluForward(buf.gate, buf.gate, buf.up, n * c.intermediateSize);
  linearForward(k, buf.x, buf.gate, w.down, n, lora, null);
  k.addInPlace(buf.x, buf.h, n * C);
}
