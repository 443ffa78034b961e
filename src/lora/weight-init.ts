/**
 * LoRA initialisations from the base weight, PEFT's `init_lora_weights` "pissa", "pissa_niter_N" and "olora":
 * A and B are taken from a factorisation of W [out, in] and W is replaced in memory by the residual
 * W_res = W − s·B·A, so the adapted model starts equal to the base model (W_res + s·B·A = W).
 *
 * - PiSSA (Meng et al. 2024): W = U·S·Vᵀ, the r leading triplets; S' = S[:r]/s, A = √S'·Vᵀ[:r] [r, in],
 *   B = U[:, :r]·√S' [out, r]. "pissa" is the exact SVD; "pissa_niter_N" PEFT's fast one (randomized subspace
 *   iteration with N iterations, seeded from the run's seed).
 * - OLoRA (Büyükakyüz 2024): W = Q·R (Householder, LAPACK's signs); A = R[:r] [r, in], B = Q[:, :r] [out, r].
 *
 * The factorisations run in f64 on W widened to f32 (as PEFT computes in f32); A and B are rounded to f32 and the
 * residual is computed from the rounded A and B, then written back in the weight's own format (f32, bf16, f16).
 * A quantized base is refused: its residual would be re-quantized and no longer equal W − s·B·A (PEFT warns of
 * that gap). Singular vectors are defined up to a common sign per pair; util/svd.ts fixes one (the largest entry
 * of each left vector positive), which changes neither s·B·A nor, since AdamW is sign-equivariant, the trained
 * model.
 *
 * Saving (PEFT's `path_initial_model_for_weight_conversion`, convert_pissa_to_lora): the base files hold the
 * original W, so the adapter is written as a plain LoRA of rank 2r relative to it:
 * ΔW = s·(B·A − B₀·A₀) = s'·[B | −B₀]·[A ; A₀] with r' = 2r and alpha' = 2·alpha (rsLoRA: √2·alpha), so
 * s' = s; rank_pattern and alpha_pattern are doubled alike (alpha_pattern by √2 with rsLoRA, which keeps s
 * where PEFT's plain doubling would not); init_lora_weights becomes true.
 */
import { LoratuneError } from "../errors.ts";
import type { Linear } from "../nn/linear.ts";
import { weightFormat } from "../tensor/formats/index.ts";
import { householderQr } from "../util/qr.ts";
import { svd } from "../util/svd.ts";
import { svdLowRank } from "../util/svd-lowrank.ts";
import type { InitLoraWeights, LoraConfig } from "./config.ts";

/** A and B of one linear at initialisation, kept to convert the trained adapter on save. */
export interface InitialFactors {
  A: Float32Array; // [r, in]
  B: Float32Array; // [out, r]
}

/** Whether an init_lora_weights value takes A and B from the base weight and replaces it (PiSSA, OLoRA). */
export function initFromWeight(init: InitLoraWeights): boolean {
  return init === "olora" || init === "pissa" || pissaIterations(init) !== null;
}

/** N of "pissa_niter_N" (a positive integer), else null. */
export function pissaIterations(init: InitLoraWeights): number | null {
  if (typeof init !== "string") return null;
  const m = /^pissa_niter_([1-9]\d*)$/.exec(init);
  return m ? Number.parseInt(m[1]!, 10) : null;
}

/**
 * Fills A [r, in] and B [out, r] from lin's weight and writes the residual W − s·B·A into it; returns copies of
 * the initial A and B. `gaussian` draws the randomized SVD's test matrix (pissa_niter_N only).
 */
export function initFromBaseWeight(
  lin: Linear,
  init: InitLoraWeights,
  r: number,
  scale: number,
  A: Float32Array,
  B: Float32Array,
  gaussian: () => number,
): InitialFactors {
  const { outFeatures: m, inFeatures: n } = lin;
  checkInitTarget(lin, init, r);
  const format = weightFormat(lin.weight.dtype);
  const w32 = new Float32Array(m * n);
  format.toF32(w32, lin.weight.data, 0, m * n);
  const w = Float64Array.from(w32);
  if (init === "olora") oloraFactors(w, m, n, r, A, B);
  else pissaFactors(w, m, n, r, scale, pissaIterations(init), gaussian, A, B);
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      let ba = 0;
      for (let t = 0; t < r; t++) ba += B[i * r + t]! * A[t * n + j]!;
      w32[i * n + j] = w[i * n + j]! - scale * ba;
    }
  }
  format.fromF32(lin.weight.data, 0, w32, m * n);
  return { A: A.slice(), B: B.slice() };
}

/**
 * Refuses what PiSSA / OLoRA cannot do on this linear: a rank above min(out, in), a quantized weight (LoRA's
 * checkModel runs it on every linear before any is changed).
 */
export function checkInitTarget(lin: Linear, init: InitLoraWeights, r: number): void {
  if (weightFormat(lin.weight.dtype).quantized) {
    throw new LoratuneError(
      "ERR_USAGE",
      `init_lora_weights ${JSON.stringify(init)} replaces ${lin.name}'s weight by a residual, which a quantized weight (${lin.weight.dtype}) cannot hold exactly; use --dtype f32 or bf16 without --quantize`,
    );
  }
  if (r > Math.min(lin.outFeatures, lin.inFeatures)) {
    throw new LoratuneError(
      "ERR_USAGE",
      `init_lora_weights ${JSON.stringify(init)}: rank ${r} exceeds min(out, in) = ${Math.min(lin.outFeatures, lin.inFeatures)} of ${lin.name} [${lin.outFeatures}, ${lin.inFeatures}]`,
    );
  }
}

/** PiSSA: A = √(S[:r]/s)·Vᵀ[:r], B = U[:, :r]·√(S[:r]/s). */
function pissaFactors(
  w: Float64Array,
  m: number,
  n: number,
  r: number,
  scale: number,
  niter: number | null,
  gaussian: () => number,
  A: Float32Array,
  B: Float32Array,
): void {
  const f = niter === null ? svd(w, m, n) : svdLowRank(w, m, n, r, niter, gaussian);
  for (let t = 0; t < r; t++) {
    const root = Math.sqrt(f.s[t]! / scale);
    for (let j = 0; j < n; j++) A[t * n + j] = root * f.vt[t * n + j]!;
    for (let i = 0; i < m; i++) B[i * r + t] = f.u[i * f.k + t]! * root;
  }
}

/** OLoRA: A = R[:r], B = Q[:, :r] of W = Q·R. */
function oloraFactors(w: Float64Array, m: number, n: number, r: number, A: Float32Array, B: Float32Array): void {
  const { q, r: rr, k } = householderQr(w, m, n);
  for (let t = 0; t < r; t++) {
    for (let j = 0; j < n; j++) A[t * n + j] = rr[t * n + j]!;
    for (let i = 0; i < m; i++) B[i * r + t] = q[i * k + t]!;
  }
}

/** The config a converted adapter is saved with (PEFT's save_pretrained with the conversion path). */
export function convertedConfig(c: LoraConfig): LoraConfig {
  const alphaFactor = c.useRslora ? Math.SQRT2 : 2;
  const map = (p: Record<string, number>, f: number) =>
    Object.fromEntries(Object.entries(p).map(([k, v]) => [k, v * f]));
  return {
    ...c,
    r: 2 * c.r,
    loraAlpha: c.loraAlpha * alphaFactor,
    rankPattern: map(c.rankPattern, 2),
    alphaPattern: map(c.alphaPattern, alphaFactor),
    initLoraWeights: true,
  };
}

/**
 * One linear's converted tensors: A' = [A ; A₀] [2r, in] and B' = [B | −B₀] [out, 2r], so that
 * s·B'·A' = s·(B·A − B₀·A₀).
 */
export function convertedFactors(A: Float32Array, B: Float32Array, initial: InitialFactors, r: number) {
  const nIn = A.length / r;
  const nOut = B.length / r;
  const A2 = new Float32Array(2 * r * nIn);
  A2.set(A, 0);
  A2.set(initial.A, r * nIn);
  const B2 = new Float32Array(nOut * 2 * r);
  for (let i = 0; i < nOut; i++) {
    for (let t = 0; t < r; t++) {
      B2[i * 2 * r + t] = B[i * r + t]!;
      B2[i * 2 * r + r + t] = -initial.B[i * r + t]!;
    }
  }
  return { A: A2, B: B2, nIn, nOut };
}
