/**
 * Linear layer y = x·Wᵀ (+ bias) with an optional LoRA branch y += s·(dropout(x)·Aᵀ)·Bᵀ, forward and backward.
 * W is [out, in] (PyTorch order, f32 or bf16); A [r, in]; B [out, r]; x [M, in]; y [M, out].
 * Frozen weights (dWeight null) get no gradient: in LoRA training only dA and dB are computed.
 */

import type { Kernels } from "../kernels/types.ts";
import type { StoredTensor } from "../tensor/stored-tensor.ts";

export interface LoraWeights {
  r: number;
  /** alpha/r, or alpha/√r with rsLoRA. */
  scale: number;
  dropout: number;
  A: Float32Array; // [r, in]
  B: Float32Array; // [out, r]
  dA: Float32Array | null;
  dB: Float32Array | null;
}

export interface Linear {
  /** Hugging Face module name, e.g. "model.layers.0.self_attn.q_proj". */
  name: string;
  inFeatures: number;
  outFeatures: number;
  weight: StoredTensor; // [out, in]
  bias: Float32Array | null; // [out]
  /** Full fine-tuning only (weight must be f32). */
  dWeight: Float32Array | null;
  dBias: Float32Array | null;
  lora: LoraWeights | null;
}

/** What forward saves for backward of the LoRA branch (slices of the activation arena). */
export interface LoraCache {
  xa: Float32Array; // [M, r]: s·(dropout(x)·Aᵀ)
  /** [M, in]: 0 or 1/(1-p) per element, null without dropout. */
  dropScale: Float32Array | null;
  /** [M, in]: dropout(x), null without dropout. */
  xDrop: Float32Array | null;
}

/** Uniform [0, 1) source for dropout masks. */
export type Uniform = () => number;

/**
 * Where LoRA dropout masks come from: fresh ones drawn from a uniform source (training), the masks already in
 * the cache ("replay": activation checkpointing runs a layer's forward again with the masks of its first run),
 * or none (evaluation: no dropout).
 */
export type DropoutSource = Uniform | "replay" | null;

/** y[M, out] = x·Wᵀ + bias + LoRA. `cache` receives the LoRA state (required when lin.lora is set). */
export function linearForward(
  k: Kernels,
  y: Float32Array,
  x: Float32Array,
  lin: Linear,
  M: number,
  cache: LoraCache | null,
  dropout: DropoutSource,
): void {
  baseMatmulNT(k, y, x, lin.weight, M, lin.outFeatures, lin.inFeatures, false);
  if (lin.bias) k.addBias(y, lin.bias, M, lin.outFeatures);
  const lora = lin.lora;
  if (!lora) return;
  if (!cache) throw new Error(`linearForward(${lin.name}): a LoRA cache is required`);
  const xIn = applyDropout(x, lora.dropout, cache, M * lin.inFeatures, dropout);
  k.matmulNT(cache.xa, xIn, lora.A, M, lora.r, lin.inFeatures, false);
  scale(cache.xa, M * lora.r, lora.scale);
  k.matmulNT(y, cache.xa, lora.B, M, lin.outFeatures, lora.r, true);
}

/**
 * Backward of linearForward. dx[M, in] is overwritten (accumulateDx false) or added to (true); dx may be null when
 * the input needs no gradient. Parameter gradients accumulate. `dxa` is scratch [M, r].
 */
export function linearBackward(
  k: Kernels,
  dx: Float32Array | null,
  dy: Float32Array,
  x: Float32Array,
  lin: Linear,
  M: number,
  cache: LoraCache | null,
  dxa: Float32Array,
  accumulateDx: boolean,
): void {
  const { inFeatures: nIn, outFeatures: nOut } = lin;
  if (dx) baseMatmulNN(k, dx, dy, lin.weight, M, nIn, nOut, accumulateDx);
  if (lin.dWeight) k.matmulTN(lin.dWeight, dy, x, nOut, nIn, M, true);
  if (lin.dBias) k.biasBackward(lin.dBias, dy, M, nOut);
  const lora = lin.lora;
  if (!lora || !cache) return;
  if (lora.dB) k.matmulTN(lora.dB, dy, cache.xa, nOut, lora.r, M, true);
  // d(x·Aᵀ) = s · dy·B   [M, r]
  k.matmulNN(dxa, dy, lora.B, M, lora.r, nOut, false);
  scale(dxa, M * lora.r, lora.scale);
  if (lora.dA) k.matmulTN(lora.dA, dxa, cache.xDrop ?? x, lora.r, nIn, M, true);
  if (!dx) return;
  if (!cache.dropScale) {
    k.matmulNN(dx, dxa, lora.A, M, nIn, lora.r, true);
    return;
  }
  // With dropout the input gradient passes through the same mask: dx += (dxa·A) ⊙ dropScale.
  const tmp = cache.xDrop!; // reuse: xDrop is no longer needed once dA is done
  k.matmulNN(tmp, dxa, lora.A, M, nIn, lora.r, false);
  const ds = cache.dropScale;
  const n = M * nIn;
  for (let i = 0; i < n; i++) dx[i]! += tmp[i]! * ds[i]!;
}

function applyDropout(x: Float32Array, p: number, cache: LoraCache, n: number, src: DropoutSource): Float32Array {
  if (p <= 0 || !cache.dropScale || !cache.xDrop || !src) return x;
  // The f32 scale, as stored in dropScale: a replayed mask then gives bit-identical inputs (and PyTorch scales
  // float tensors by the float 1/(1-p) too).
  const keep = Math.fround(1 / (1 - p));
  const ds = cache.dropScale;
  const xd = cache.xDrop;
  if (src === "replay") {
    for (let i = 0; i < n; i++) xd[i] = x[i]! * ds[i]!;
    return xd;
  }
  const uniform = src;
  for (let i = 0; i < n; i++) {
    const s = uniform() < p ? 0 : keep;
    ds[i] = s;
    xd[i] = x[i]! * s;
  }
  return xd;
}

function scale(a: Float32Array, n: number, s: number): void {
  if (s === 1) return;
  for (let i = 0; i < n; i++) a[i]! *= s;
}

/** out[M,N] (+)= a[M,K]·Wᵀ for W [N,K] stored f32 or bf16. */
export function baseMatmulNT(
  k: Kernels,
  out: Float32Array,
  a: Float32Array,
  w: StoredTensor,
  M: number,
  N: number,
  K: number,
  accumulate: boolean,
): void {
  if (w.dtype === "f32") k.matmulNT(out, a, w.data as Float32Array, M, N, K, accumulate);
  else k.matmulNTBf16(out, a, w.data as Uint16Array, M, N, K, accumulate);
}

/** out[M,N] (+)= a[M,K]·W for W [K,N] stored f32 or bf16. */
export function baseMatmulNN(
  k: Kernels,
  out: Float32Array,
  a: Float32Array,
  w: StoredTensor,
  M: number,
  N: number,
  K: number,
  accumulate: boolean,
): void {
  if (w.dtype === "f32") k.matmulNN(out, a, w.data as Float32Array, M, N, K, accumulate);
  else k.matmulNNBf16(out, a, w.data as Uint16Array, M, N, K, accumulate);
}
