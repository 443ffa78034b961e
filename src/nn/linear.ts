/**
 * Linear layer y = x·Wᵀ (+ bias), forward and backward, with an optional adapter (LoRA or another method, see
 * adapter-hooks.ts) whose hooks add their contribution after the base.
 * W is [out, in] (PyTorch order, f32 or bf16); x [M, in]; y [M, out].
 * Frozen weights (dWeight null) get no gradient: in adapter training only the adapter's parameters get one.
 */

import { hasQ8Dot } from "../kernels/index.ts";
import type { Kernels } from "../kernels/types.ts";
import type { StoredTensor } from "../tensor/stored-tensor.ts";
import type { AdapterCache, AdapterHooks, DropoutSource } from "./adapter-hooks.ts";

export type { AdapterCache, AdapterHooks, DropoutSource, Uniform } from "./adapter-hooks.ts";

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
  /** The attached adapter (its method's hooks and its tensors), or null. */
  adapter: AdapterHooks | null;
}

/**
 * y[M, out] = x·Wᵀ + bias + the adapter's contribution. `cache` holds the adapter's buffers (required when
 * lin.adapter is set).
 */
export function linearForward(
  k: Kernels,
  y: Float32Array,
  x: Float32Array,
  lin: Linear,
  M: number,
  cache: AdapterCache | null,
  dropout: DropoutSource,
): void {
  baseMatmulNT(k, y, x, lin.weight, M, lin.outFeatures, lin.inFeatures, false);
  addBiasAndAdapter(k, y, x, lin, M, cache, dropout);
}

/**
 * linearForward for inference (no dropout): the same, except that a one-row product (a decoded token) with a
 * block-format weight takes inferMatmulNT's quantized-activation path.
 */
export function linearInfer(
  k: Kernels,
  y: Float32Array,
  x: Float32Array,
  lin: Linear,
  M: number,
  cache: AdapterCache | null,
): void {
  inferMatmulNT(k, y, x, lin.weight, M, lin.outFeatures, lin.inFeatures);
  addBiasAndAdapter(k, y, x, lin, M, cache, null);
}

/** y (+)= bias, then the adapter's contribution. */
function addBiasAndAdapter(
  k: Kernels,
  y: Float32Array,
  x: Float32Array,
  lin: Linear,
  M: number,
  cache: AdapterCache | null,
  dropout: DropoutSource,
): void {
  if (lin.bias) k.addBias(y, lin.bias, M, lin.outFeatures);
  const adapter = lin.adapter;
  if (!adapter) return;
  if (!cache) throw new Error(`linearForward(${lin.name}): an adapter cache is required (${adapter.method})`);
  adapter.forward(k, y, x, lin, M, cache, dropout);
}

/**
 * Backward of linearForward. dx[M, in] is overwritten (accumulateDx false) or added to (true); dx may be null when
 * the input needs no gradient. Parameter gradients accumulate. `scratch` is the adapter's backward scratch
 * (at least M × adapter.scratchPerRow).
 */
export function linearBackward(
  k: Kernels,
  dx: Float32Array | null,
  dy: Float32Array,
  x: Float32Array,
  lin: Linear,
  M: number,
  cache: AdapterCache | null,
  scratch: Float32Array,
  accumulateDx: boolean,
): void {
  const { inFeatures: nIn, outFeatures: nOut } = lin;
  const adapter = lin.adapter;
  if (dx) {
    const dyBase = adapter && cache ? (adapter.baseOutputGrad?.(dy, M, cache, scratch) ?? dy) : dy;
    baseMatmulNN(k, dx, dyBase, lin.weight, M, nIn, nOut, accumulateDx);
  }
  if (lin.dWeight) k.matmulTN(lin.dWeight, dy, x, nOut, nIn, M, true);
  if (lin.dBias) k.biasBackward(lin.dBias, dy, M, nOut);
  if (!adapter || !cache) return;
  adapter.backward(k, dx, dy, x, lin, M, cache, scratch);
}

/** out[M,N] (+)= a[M,K]·Wᵀ for W [N,K] in any weight format (the backend dispatches on it). */
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
  k.matmulWNT(out, a, w.data, w.dtype, M, N, K, accumulate);
}

/**
 * out[M,N] = a[M,K]·Wᵀ at inference. A one-row product (a decoded token) with a block-format weight (q8_0, q4_0,
 * q4_k, q5_k, q6_k) quantizes the row to 8-bit blocks and takes integer dot products (matvecWQ8, as llama.cpp decodes): far fewer instructions
 * per weight than widening each to f32, for the activation rounded to 8 bits per block (kernels/ref/matvec-q8.ts
 * bounds the difference). Any other product is baseMatmulNT's, exact: a prompt's rows (M > 1) take it.
 */
export function inferMatmulNT(
  k: Kernels,
  out: Float32Array,
  a: Float32Array,
  w: StoredTensor,
  M: number,
  N: number,
  K: number,
): void {
  if (M === 1 && hasQ8Dot(w.dtype)) k.matvecWQ8(out, a, w.data, w.dtype, N, K, false);
  else k.matmulWNT(out, a, w.data, w.dtype, M, N, K, false);
}

/** out[M,N] (+)= a[M,K]·W for W [K,N] in any weight format (the backend dispatches on it). */
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
  k.matmulWNN(out, a, w.data, w.dtype, M, N, K, accumulate);
}
