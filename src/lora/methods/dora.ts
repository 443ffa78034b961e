/**
 * DoRA (weight-decomposed low-rank adaptation, Liu et al. 2024) as an adapter method, exactly PEFT's
 * (`use_dora: true` on a "LORA" config). For each targeted linear W [out, in] with bias b, LoRA's A [r, in] and
 * B [out, r], and a magnitude vector m [out]:
 *
 *   V = W + s·B·A                     the directional weight            [out, in]
 *   n[o] = ‖V[o, :]‖₂                  per output row, DETACHED          [out]
 *   g = m / n                                                            [out]
 *   y = x·Wᵀ + b + (g − 1) ⊙ (x_d·Wᵀ) + g ⊙ (s·x_d·Aᵀ·Bᵀ)               [M, out]
 *
 * with x_d = dropout(x). Without dropout (or in evaluation) x_d = x and this is y = b + g ⊙ (x·Vᵀ), i.e.
 * x·(m ⊙ V/‖V‖)ᵀ + b. With dropout PEFT applies it to x for both the LoRA branch and the magnitude term, and the
 * base output keeps the undropped x (PEFT's DoraLinearLayer.forward with base_result None).
 *
 * The weight norm n is a constant in backward (DoRA paper §4.3; PEFT: `weight_norm.detach()`): no gradient
 * flows from n into A or B, which saves the memory of the norm's graph. So, with dy [M, out]:
 *   dm[o] += Σᵢ dy[i, o]·(x_d·Wᵀ + s·x_d·Aᵀ·Bᵀ)[i, o] / n[o]
 *   the LoRA gradients of dy' = g ⊙ dy (dB, dA as plain LoRA)
 *   dx += ((g − 1) ⊙ dy)·W (through the dropout mask) + LoRA's dx of dy'
 * Without dropout the base's dx takes g ⊙ dy in place of dy (the baseOutputGrad hook), so backward makes no extra
 * product with the frozen W; with dropout the (g − 1) term goes through the mask and is one more product with W
 * (in its own format: bf16 or quantized), as is x_d·Wᵀ in forward.
 *
 * The norm without materialising V or dequantizing W on every step: ‖V[o]‖² = ‖W[o]‖² + 2s·(B·(A·Wᵀ))[o, o]
 * + s²·B[o]·(A·Aᵀ)·B[o]ᵀ. ‖W[o]‖² is computed once (W is frozen; widened to f32 once, row by row through the
 * kernels' format conversion), P = A·Wᵀ [r, out] is one product with r rows in W's own format, and A·Aᵀ is
 * [r, r]: O(r·out·in) per step, the cost of r tokens through the base, in f64 sums. The norm is recomputed only
 * when A or B changed since the last forward (a copy of both is compared), so KV-cache decoding does not pay it
 * per token.
 *
 * Init: A and B as LoRA (the same draws, so a seeded run's A matches LoRA's), m = ‖W + s·B·A‖ (= ‖W‖ with B = 0),
 * so a fresh DoRA adapter is the identity. Saved as `lora_A.weight`, `lora_B.weight` and `lora_magnitude_vector`
 * [out] (PEFT's key: no ".weight"); adapter_config.json as LoRA's with use_dora true.
 * Merge: W' = (m / ‖W + s·B·A‖) ⊙ (W + s·B·A) per row, in f32 (the bias unchanged); unmerge divides by the factor
 * kept at merge and subtracts s·B·A (as PEFT, which also keeps it).
 */
import { LoratuneError } from "../../errors.ts";
import { getKernels } from "../../kernels/index.ts";
import type { Kernels } from "../../kernels/types.ts";
import type { AdapterCache, DropoutSource } from "../../nn/adapter-hooks.ts";
import { baseMatmulNN, baseMatmulNT, type Linear } from "../../nn/linear.ts";
import { type LoraConfig, moduleRankAndScale } from "../config.ts";
import type { AdapterMethod, AdapterTensor, AdapterTensorSpec, AttachedAdapter } from "../method.ts";
import { applyDropout, initLora, loraCacheSizes, loraConfigJson, parseLoraConfig, scale } from "./lora.ts";

/** What DoRA's forward keeps for backward (its cacheSizes). */
interface DoraCache {
  /** [M, r]: s·(x_d·Aᵀ). */
  xa: Float32Array;
  /** [M, out]: x_d·Vᵀ = x_d·Wᵀ + s·x_d·Aᵀ·Bᵀ (without bias), the magnitude's input. */
  xv: Float32Array;
  /** [M, in]: 0 or 1/(1-p) per element; absent without dropout (or without gradients). */
  dropScale?: Float32Array;
  /** [M, in]: x_d; absent without dropout. */
  xDrop?: Float32Array;
}

function doraCacheSizes(r: number, nIn: number, nOut: number, dropout: number, training: boolean) {
  return { ...loraCacheSizes(r, nIn, dropout, training), xv: nOut };
}

function tensorSpecsFor(nIn: number, nOut: number, r: number): AdapterTensorSpec[] {
  return [
    { name: "lora_A.weight", shape: [r, nIn], axes: ["rank", "in"] },
    { name: "lora_B.weight", shape: [nOut, r], axes: ["out", "rank"] },
    { name: "lora_magnitude_vector", shape: [nOut], axes: ["out"] },
  ];
}

/** DoRA attached to one linear. */
export class DoraAdapter implements AttachedAdapter {
  readonly method = "dora";
  readonly tensors: readonly AdapterTensor[];
  readonly scratchPerRow: number;
  /** [out] the detached row norm n = ‖W + s·B·A‖ of the last forward, and g = m / n. */
  readonly norm: Float32Array;
  readonly g: Float32Array;
  /**
   * Keep `norm` as it is even if A or B change (tests: a finite-difference check of the detached-norm gradient
   * perturbs A and B with the norm held, as PEFT's backward sees it).
   */
  holdNorm = false;
  /** ‖W[o]‖² of the frozen base weight, computed on first use. */
  private wNormSq: Float64Array | null = null;
  /** A and B as the norm was last computed from (null: never). */
  private seenA: Float32Array | null = null;
  private seenB: Float32Array | null = null;
  /** Whether the last forward applied dropout (then the magnitude term's dx needs its own product with W). */
  private dropped = false;
  /** Whether baseOutputGrad left g ⊙ dy of the current backward in the scratch (backward then reuses it). */
  private dygReady = false;
  /** m / n at merge time, for unmerge (PEFT keeps it too: the merged weight no longer tells n). */
  private mergedFactor: Float64Array | null = null;

  constructor(
    readonly nIn: number,
    readonly nOut: number,
    readonly r: number,
    readonly scale: number,
    readonly dropout: number,
    readonly A: Float32Array, // [r, in]
    readonly B: Float32Array, // [out, r]
    readonly m: Float32Array, // [out]
    grads: { dA: Float32Array; dB: Float32Array; dm: Float32Array } | null,
  ) {
    this.scratchPerRow = nOut + r;
    const specs = tensorSpecsFor(nIn, nOut, r);
    this.tensors = [
      { ...specs[0]!, data: A, grad: grads?.dA ?? null },
      { ...specs[1]!, data: B, grad: grads?.dB ?? null },
      { ...specs[2]!, data: m, grad: grads?.dm ?? null },
    ];
    this.norm = new Float32Array(nOut);
    this.g = new Float32Array(nOut);
  }

  cacheSizes(training: boolean): Record<string, number> {
    return doraCacheSizes(this.r, this.nIn, this.nOut, this.dropout, training);
  }

  /** ‖W[o]‖² per row (f64), widening the frozen weight to f32 once. */
  private baseRowNormsSq(k: Kernels, lin: Linear): Float64Array {
    if (this.wNormSq) return this.wNormSq;
    const { inFeatures: nIn, outFeatures: nOut } = lin;
    const w = new Float32Array(nIn * nOut);
    k.weightToF32(w, lin.weight.data, lin.weight.dtype, w.length);
    const sq = new Float64Array(nOut);
    for (let o = 0; o < nOut; o++) {
      let acc = 0;
      for (let i = o * nIn, end = i + nIn; i < end; i++) acc += w[i]! * w[i]!;
      sq[o] = acc;
    }
    this.wNormSq = sq;
    return sq;
  }

  /** Recomputes n = ‖W + s·B·A‖ per row if A or B changed, then g = m / n (m may change every step). */
  refreshNorm(k: Kernels, lin: Linear): void {
    if (!this.holdNorm && !(sameAs(this.seenA, this.A) && sameAs(this.seenB, this.B))) {
      const { inFeatures: nIn, outFeatures: nOut } = lin;
      const r = this.r;
      const s = this.scale;
      const wsq = this.baseRowNormsSq(k, lin);
      const P = new Float32Array(r * nOut); // A·Wᵀ [r, out], in W's own format
      baseMatmulNT(k, P, this.A, lin.weight, r, nOut, nIn, false);
      const G = new Float32Array(r * r); // A·Aᵀ [r, r]
      k.matmulNT(G, this.A, this.A, r, r, nIn, false);
      const B = this.B;
      for (let o = 0; o < nOut; o++) {
        let cross = 0; // (B·A·Wᵀ)[o, o] = Σ_j B[o, j]·P[j, o]
        let quad = 0; // ‖(B·A)[o]‖² = B[o]·G·B[o]ᵀ
        for (let j = 0; j < r; j++) {
          const b = B[o * r + j]!;
          cross += b * P[j * nOut + o]!;
          let row = 0;
          for (let l = 0; l < r; l++) row += G[j * r + l]! * B[o * r + l]!;
          quad += b * row;
        }
        this.norm[o] = Math.sqrt(Math.max(0, wsq[o]! + 2 * s * cross + s * s * quad));
      }
      this.seenA = Float32Array.from(this.A);
      this.seenB = Float32Array.from(this.B);
    }
    for (let o = 0; o < this.nOut; o++) this.g[o] = this.m[o]! / this.norm[o]!;
  }

  forward(
    k: Kernels,
    y: Float32Array,
    x: Float32Array,
    lin: Linear,
    M: number,
    cache: AdapterCache,
    dropout: DropoutSource,
  ): void {
    const { inFeatures: nIn, outFeatures: nOut } = lin;
    const c = cache as unknown as DoraCache;
    this.refreshNorm(k, lin);
    const xIn = applyDropout(x, this.dropout, c, M * nIn, dropout);
    this.dropped = xIn !== x;
    k.matmulNT(c.xa, xIn, this.A, M, this.r, nIn, false);
    scale(c.xa, M * this.r, this.scale);
    const xv = c.xv;
    const g = this.g;
    const bias = lin.bias;
    if (!this.dropped) {
      // No dropout: x·Wᵀ is the base output already in y, less the bias. One pass: xv = (y − b) + s·xa·Bᵀ, and
      // y = b + g ⊙ xv.
      k.matmulNT(xv, c.xa, this.B, M, nOut, this.r, false);
      for (let i = 0; i < M; i++) {
        const row = i * nOut;
        for (let o = 0; o < nOut; o++) {
          const b = bias ? bias[o]! : 0;
          const v = y[row + o]! - b + xv[row + o]!;
          xv[row + o] = v;
          y[row + o] = b + g[o]! * v;
        }
      }
      return;
    }
    baseMatmulNT(k, xv, xIn, lin.weight, M, nOut, nIn, false); // x_d·Wᵀ
    const n = M * nOut;
    for (let i = 0; i < n; i++) y[i]! -= xv[i]!; // y = x·Wᵀ + b − x_d·Wᵀ
    k.matmulNT(xv, c.xa, this.B, M, nOut, this.r, true); // xv = x_d·Vᵀ
    for (let i = 0; i < M; i++) {
      const row = i * nOut;
      for (let o = 0; o < nOut; o++) y[row + o]! += g[o]! * xv[row + o]!;
    }
  }

  /**
   * Without dropout the whole output gradient through W is g ⊙ dy (dy·W from the base plus ((g − 1) ⊙ dy)·W):
   * the base's product takes it, so DoRA costs no extra product with W in backward. With dropout, null.
   */
  baseOutputGrad(dy: Float32Array, M: number, _cache: AdapterCache, scratch: Float32Array): Float32Array | null {
    if (this.dropped) return null;
    const nOut = this.nOut;
    const dyg = scratch.subarray(0, M * nOut);
    scaleColumns(dyg, dy, this.g, M, nOut);
    this.dygReady = true;
    return dyg;
  }

  backward(
    k: Kernels,
    dx: Float32Array | null,
    dy: Float32Array,
    x: Float32Array,
    lin: Linear,
    M: number,
    cache: AdapterCache,
    scratch: Float32Array,
  ): void {
    const { inFeatures: nIn, outFeatures: nOut } = lin;
    const c = cache as unknown as DoraCache;
    const r = this.r;
    const g = this.g;
    const [, gB, gm] = this.tensors.map((t) => t.grad);
    const dA = this.tensors[0]!.grad;
    // dm[o] += Σᵢ dy[i, o]·xv[i, o] / n[o]   (n detached)
    if (gm) {
      const acc = new Float64Array(nOut);
      for (let i = 0; i < M; i++) {
        const row = i * nOut;
        for (let o = 0; o < nOut; o++) acc[o]! += dy[row + o]! * c.xv[row + o]!;
      }
      for (let o = 0; o < nOut; o++) gm[o]! += acc[o]! / this.norm[o]!;
    }
    // The LoRA branch sees dy' = g ⊙ dy   [M, out]
    const dyg = scratch.subarray(0, M * nOut);
    const dxa = scratch.subarray(M * nOut, M * (nOut + r));
    if (!this.dygReady) scaleColumns(dyg, dy, g, M, nOut);
    this.dygReady = false;
    if (gB) k.matmulTN(gB, dyg, c.xa, nOut, r, M, true);
    // d(x_d·Aᵀ) = s · dy'·B   [M, r]
    k.matmulNN(dxa, dyg, this.B, M, r, nOut, false);
    scale(dxa, M * r, this.scale);
    if (dA) k.matmulTN(dA, dxa, this.dropped ? c.xDrop! : x, r, nIn, M, true);
    if (!dx) return;
    if (!this.dropped) {
      // The magnitude term's ((g − 1) ⊙ dy)·W is in the base's dx already (baseOutputGrad): LoRA's dxa·A remains.
      k.matmulNN(dx, dxa, this.A, M, nIn, r, true);
      return;
    }
    // With dropout: ((g − 1) ⊙ dy)·W plus LoRA's dxa·A, both through the dropout mask.
    for (let i = 0; i < M; i++) for (let o = 0; o < nOut; o++) dyg[i * nOut + o] = (g[o]! - 1) * dy[i * nOut + o]!;
    const tmp = c.xDrop!; // reuse: x_d is no longer needed once dA is done
    baseMatmulNN(k, tmp, dyg, lin.weight, M, nIn, nOut, false);
    k.matmulNN(tmp, dxa, this.A, M, nIn, r, true);
    const ds = c.dropScale!;
    const n = M * nIn;
    for (let i = 0; i < n; i++) dx[i]! += tmp[i]! * ds[i]!;
  }

  /** W' = (m / ‖W + s·B·A‖) ⊙ (W + s·B·A) per row (f32 [out, in]); the bias is unchanged. */
  merge(k: Kernels, w: Float32Array): void {
    const { nIn, nOut } = this;
    this.addDelta(k, w, this.scale);
    const factor = new Float64Array(nOut);
    for (let o = 0; o < nOut; o++) {
      let sq = 0;
      for (let i = o * nIn, end = i + nIn; i < end; i++) sq += w[i]! * w[i]!;
      factor[o] = this.m[o]! / Math.sqrt(sq);
      for (let i = o * nIn, end = i + nIn; i < end; i++) w[i] = w[i]! * factor[o]!;
    }
    this.mergedFactor = factor;
    // The base weight changes under this adapter: its row norms are computed again if it is used unmerged.
    this.wNormSq = null;
    this.seenA = null;
  }

  /** The inverse of merge: W = W' / factor − s·B·A, with the factor kept when this adapter merged. */
  unmerge(k: Kernels, w: Float32Array): void {
    const factor = this.mergedFactor;
    if (!factor) {
      throw new LoratuneError(
        "ERR_USAGE",
        "a DoRA adapter can only be unmerged from a weight it merged itself (the merged weight no longer holds ‖W + s·B·A‖)",
      );
    }
    const { nIn, nOut } = this;
    for (let o = 0; o < nOut; o++) for (let i = o * nIn, end = i + nIn; i < end; i++) w[i] = w[i]! / factor[o]!;
    this.addDelta(k, w, -this.scale);
    this.mergedFactor = null;
    this.wNormSq = null;
    this.seenA = null;
  }

  /** w += s·B·A (f32 [out, in]). */
  private addDelta(k: Kernels, w: Float32Array, s: number): void {
    const n = this.nOut * this.nIn;
    const delta = new Float32Array(n);
    k.matmulNN(delta, this.B, this.A, this.nOut, this.nIn, this.r, false); // [out, r]·[r, in]
    for (let i = 0; i < n; i++) w[i] = w[i]! + s * delta[i]!;
  }
}

/** out[i, o] = g[o]·dy[i, o] for [M, nOut]. */
function scaleColumns(out: Float32Array, dy: Float32Array, g: Float32Array, M: number, nOut: number): void {
  for (let i = 0; i < M; i++) {
    const row = i * nOut;
    for (let o = 0; o < nOut; o++) out[row + o] = g[o]! * dy[row + o]!;
  }
}

function sameAs(seen: Float32Array | null, now: Float32Array): boolean {
  if (!seen) return false;
  for (let i = 0; i < now.length; i++) if (seen[i] !== now[i]) return false;
  return true;
}

export const dora: AdapterMethod<LoraConfig> = {
  name: "dora",
  peftType: "LORA",
  reads: (raw) => raw.use_dora === true,
  parseConfig: (raw, path) => parseLoraConfig(raw, path, "dora"),
  configJson: (c, model, adapted, baseModel) => ({ ...loraConfigJson(c, model, adapted, baseModel), use_dora: true }),
  tensorSpecs(c, lin) {
    return tensorSpecsFor(lin.inFeatures, lin.outFeatures, moduleRankAndScale(c, lin.name).r);
  },
  arenaSizes(c, lin, training) {
    const { r } = moduleRankAndScale(c, lin.name);
    return {
      cacheSizes: doraCacheSizes(r, lin.inFeatures, lin.outFeatures, c.loraDropout, training),
      scratchPerRow: lin.outFeatures + r,
    };
  },
  attach(c, lin, uniform, withGrad) {
    const { r, scale: s } = moduleRankAndScale(c, lin.name);
    const { inFeatures: nIn, outFeatures: nOut } = lin;
    const A = new Float32Array(r * nIn);
    const B = new Float32Array(nOut * r);
    initLora(A, B, nIn, r, c.initLoraWeights, uniform);
    const m = new Float32Array(nOut);
    const grads = withGrad
      ? { dA: new Float32Array(A.length), dB: new Float32Array(B.length), dm: new Float32Array(nOut) }
      : null;
    const adapter = new DoraAdapter(nIn, nOut, r, s, c.loraDropout, A, B, m, grads);
    // m = ‖W + s·B·A‖ per row (PEFT's init): the fresh adapter leaves the model's output unchanged.
    if (lin.weight.data.length > 0) {
      m.fill(1);
      adapter.refreshNorm(getKernels(), lin);
      m.set(adapter.norm);
    }
    return adapter;
  },
};
