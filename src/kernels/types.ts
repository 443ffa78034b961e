/**
 * The Kernels interface: every hot operation of the Llama forward/backward pass and of the AdamW step.
 *
 * Flat and positional, mirroring a C ABI (llm.c order): outputs first, then saved state, then inputs, then
 * weights, then dimensions and scalars. All matrices are dense, row-major, without padding.
 *
 * Conventions:
 * - Shapes are written `[rows, cols]`; `N` is a count of rows (tokens), `C` a row length (channels).
 * - Gradients of *parameters* (dweight, dbias, dtable) are ACCUMULATED (`+=`): they are zeroed once per step.
 *   A parameter gradient argument of `null` means the parameter is frozen and its gradient is skipped.
 * - Gradients of *activations* are OVERWRITTEN unless the doc says otherwise.
 * - Unless stated, an output must not alias an input.
 * - bf16 tensors are `Uint16Array` holding the upper 16 bits of an IEEE f32; f16 tensors are `Uint16Array`
 *   holding IEEE binary16.
 * - Base weights come in any format of the registry (src/tensor/formats/): an argument `b: WeightData` is followed
 *   by `bFormat`, the format's name, and the backend dispatches on it (natively: a packing routine per format).
 *   Shapes count values; a weight's rows (its last dimension) are whole blocks of its format.
 * - Scalars documented "f64" are used at double precision, as the TypeScript loops they replace did: a result
 *   computed in f64 is rounded to f32 once, when stored.
 */
import type { StorageDType, WeightData } from "../tensor/formats/index.ts";

export interface Kernels {
  /** Which implementation this is: "ref" (TypeScript) or "native" (C++ addon). */
  readonly name: "ref" | "native";
  /** Instruction set in use ("scalar" for the reference; "generic" | "avx2" | "avx512" for native). */
  readonly isa: string;
  /** Threads the kernels use. */
  readonly threads: number;

  // ---------------------------------------------------------------- matmul (the hot path)
  /** out[M,N] (+)= a[M,K] · b[N,K]ᵀ. The forward of a linear layer: y = x · Wᵀ with W [out, in]. */
  matmulNT(
    out: Float32Array,
    a: Float32Array,
    b: Float32Array,
    M: number,
    N: number,
    K: number,
    accumulate: boolean,
  ): void;
  /** out[M,N] (+)= a[M,K] · b[K,N]. The input gradient of a linear layer: dx = dy · W. */
  matmulNN(
    out: Float32Array,
    a: Float32Array,
    b: Float32Array,
    M: number,
    N: number,
    K: number,
    accumulate: boolean,
  ): void;
  /** out[M,N] (+)= a[K,M]ᵀ · b[K,N]. The weight gradient of a linear layer: dW = dyᵀ · x. */
  matmulTN(
    out: Float32Array,
    a: Float32Array,
    b: Float32Array,
    M: number,
    N: number,
    K: number,
    accumulate: boolean,
  ): void;

  // ---------------------------------------------------------------- weights in any format
  /**
   * out[M,N] (+)= a[M,K] · W[N,K]ᵀ for a weight W stored in format `bFormat` (the linear forward y = x·Wᵀ),
   * f32 accumulation; f32 weights take exactly matmulNT's path.
   */
  matmulWNT(
    out: Float32Array,
    a: Float32Array,
    b: WeightData,
    bFormat: StorageDType,
    M: number,
    N: number,
    K: number,
    accumulate: boolean,
  ): void;
  /**
   * out[M,N] (+)= a[M,K] · W[K,N] for a weight W stored in format `bFormat` (the linear input gradient dx = dy·W,
   * rows of W of length N), f32 accumulation; f32 weights take exactly matmulNN's path.
   */
  matmulWNN(
    out: Float32Array,
    a: Float32Array,
    b: WeightData,
    bFormat: StorageDType,
    M: number,
    N: number,
    K: number,
    accumulate: boolean,
  ): void;
  /**
   * out[N] (+)= x[K] · W[N,K]ᵀ for a q8_0, q4_0, q4_k, q5_k or q6_k weight with x first quantized to 8-bit blocks
   * (q8_0 blocks of 32 for q8_0 and q4_0, q8_K blocks of 256 for the K-quants) and integer dot products per block:
   * llama.cpp's decode arithmetic, the one-row decode's product (nn/linear.ts inferMatmulNT). Not exact: see
   * kernels/ref/matvec-q8.ts for the arithmetic and its error bound. Other formats are refused (TypeError).
   */
  matvecWQ8(
    out: Float32Array,
    x: Float32Array,
    w: WeightData,
    wFormat: StorageDType,
    N: number,
    K: number,
    accumulate: boolean,
  ): void;
  /** out[N,C] = f32(table[ids[n], :]) for a table [V,C] stored in format `tableFormat`. Ids are checked. */
  embeddingWForward(
    out: Float32Array,
    ids: Int32Array,
    table: WeightData,
    tableFormat: StorageDType,
    N: number,
    C: number,
  ): void;
  /** out[0, n) = f32 values of the first n values of b (format bFormat; n whole blocks). Exact for f32 and bf16. */
  weightToF32(out: Float32Array, b: WeightData, bFormat: StorageDType, n: number): void;
  /** The first n values of b (format bFormat; n whole blocks) = inp[0, n) encoded (bf16: round to nearest even). */
  weightFromF32(b: WeightData, bFormat: StorageDType, inp: Float32Array, n: number): void;

  // ---------------------------------------------------------------- elementwise
  /** out[i] += a[i] for i < n (residual connections, gradient sums). */
  addInPlace(out: Float32Array, a: Float32Array, n: number): void;
  /** out[M,N] += bias[N] broadcast over rows. */
  addBias(out: Float32Array, bias: Float32Array, M: number, N: number): void;
  /** dbias[N] += column sums of dout[M,N]. */
  biasBackward(dbias: Float32Array, dout: Float32Array, M: number, N: number): void;

  // ---------------------------------------------------------------- RMSNorm
  /**
   * out[N,C] = x / sqrt(mean(x²) + eps) * weight[C]; rstd[N] saved for backward.
   * `out` may alias `x` (in-place), rstd is still computed from the input.
   */
  rmsnormForward(
    out: Float32Array,
    rstd: Float32Array,
    x: Float32Array,
    weight: Float32Array,
    N: number,
    C: number,
    eps: number,
  ): void;
  /**
   * dx[N,C] (overwritten) from dout[N,C]; dweight[C] += Σ_rows dout·x·rstd (null when frozen).
   * Needs the forward input x and the saved rstd. `dx` may alias `dout`.
   */
  rmsnormBackward(
    dx: Float32Array,
    dweight: Float32Array | null,
    dout: Float32Array,
    x: Float32Array,
    weight: Float32Array,
    rstd: Float32Array,
    N: number,
    C: number,
  ): void;

  // ---------------------------------------------------------------- RoPE (rotate-half convention)
  /**
   * In place on x[N, nHeads*headDim]: each head's vector v (length hd) becomes
   * v*cos + rotate_half(v)*sin, with rotate_half(v) = cat(-v[hd/2:], v[:hd/2]).
   * cos/sin tables are [maxPos, hd/2] (angle i of position p); pos[N] is each row's position id.
   */
  ropeForward(
    x: Float32Array,
    pos: Int32Array,
    cos: Float32Array,
    sin: Float32Array,
    N: number,
    nHeads: number,
    headDim: number,
  ): void;
  /** In place on dx[N, nHeads*headDim]: the transpose of ropeForward (rotation by the negative angle). */
  ropeBackward(
    dx: Float32Array,
    pos: Int32Array,
    cos: Float32Array,
    sin: Float32Array,
    N: number,
    nHeads: number,
    headDim: number,
  ): void;

  // ---------------------------------------------------------------- attention
  /**
   * Causal grouped-query attention, softmax inside, scale 1/sqrt(headDim).
   * q[B*T, nHead*hd], k,v[B*T, nKv*hd] → out[B*T, nHead*hd]; lse[B, nHead, T] saves each row's log-sum-exp
   * of the scaled scores for backward. Query head h reads kv head floor(h / (nHead/nKv)).
   * Token t of sequence b attends to tokens s ≤ t of the same sequence; when seg[B*T] is given, only to those
   * with seg[b*T+s] === seg[b*T+t] (packed examples never see each other).
   */
  attentionForward(
    out: Float32Array,
    lse: Float32Array,
    q: Float32Array,
    k: Float32Array,
    v: Float32Array,
    seg: Int32Array | null,
    B: number,
    T: number,
    nHead: number,
    nKv: number,
    headDim: number,
  ): void;
  /**
   * Gradients of attentionForward: dq, dk, dv overwritten (same shapes as q, k, v), from dout and the forward's
   * q, k, v, out and lse.
   */
  attentionBackward(
    dq: Float32Array,
    dk: Float32Array,
    dv: Float32Array,
    dout: Float32Array,
    q: Float32Array,
    k: Float32Array,
    v: Float32Array,
    out: Float32Array,
    lse: Float32Array,
    seg: Int32Array | null,
    B: number,
    T: number,
    nHead: number,
    nKv: number,
    headDim: number,
  ): void;

  /**
   * Attention for generation against a KV cache (batch 1, no gradient). Queries q[Tq, nHead*hd] are the tokens at
   * positions pos0 … pos0+Tq-1; kCache, vCache [maxT, nKv*hd] hold keys/values of positions 0 … pos0+Tq-1
   * (already including these tokens). Query i attends causally to cache rows 0 … pos0+i. out[Tq, nHead*hd].
   */
  attentionKV(
    out: Float32Array,
    q: Float32Array,
    kCache: Float32Array,
    vCache: Float32Array,
    Tq: number,
    pos0: number,
    nHead: number,
    nKv: number,
    headDim: number,
  ): void;

  // ---------------------------------------------------------------- SwiGLU MLP activation
  /** out[n] = silu(gate[n]) * up[n], silu(x) = x / (1 + e^-x). */
  swigluForward(out: Float32Array, gate: Float32Array, up: Float32Array, n: number): void;
  /** dgate, dup (overwritten) from dout and the forward's gate, up. `dgate` may alias `gate`, `dup` may alias `up`. */
  swigluBackward(
    dgate: Float32Array,
    dup: Float32Array,
    dout: Float32Array,
    gate: Float32Array,
    up: Float32Array,
    n: number,
  ): void;

  // ---------------------------------------------------------------- embedding
  // (the forward is embeddingWForward, above: a table in any weight format)
  /** dtable[ids[n], :] += dout[n, :] (scatter-add). */
  embeddingBackward(dtable: Float32Array, dout: Float32Array, ids: Int32Array, N: number, C: number): void;

  // ---------------------------------------------------------------- loss
  /**
   * Softmax cross-entropy over rows of logits[N,V] against targets[N] (-100 = ignored).
   * losses[n] = logsumexp(logits[n]) - logits[n, target] (0 for ignored rows).
   * When dlogits is given, dlogits[n,:] = (softmax(logits[n]) - onehot(target)) * gradScale (all zero for
   * ignored rows). `dlogits` may alias `logits` (in place, as the chunked loss does). Returns Σ losses (f64).
   */
  crossEntropy(
    losses: Float32Array,
    dlogits: Float32Array | null,
    logits: Float32Array,
    targets: Int32Array,
    N: number,
    V: number,
    gradScale: number,
  ): number;

  // ---------------------------------------------------------------- optimizer
  /**
   * One AdamW update with PyTorch semantics, in place on param/m/v for n elements:
   * param -= lr*wd*param; m = b1*m + (1-b1)*g; v = b2*v + (1-b2)*g²;
   * param -= lr * (m/(1-b1^step)) / (sqrt(v/(1-b2^step)) + eps). `step` counts from 1.
   */
  adamw(
    param: Float32Array,
    grad: Float32Array,
    m: Float32Array,
    v: Float32Array,
    n: number,
    lr: number,
    beta1: number,
    beta2: number,
    eps: number,
    weightDecay: number,
    step: number,
  ): void;

  // ---------------------------------------------------------------- vectors (optimizer, clipping, merge, adapters)
  /** out[i] = 0 for i < n (gradient zeroing, once per optimizer step). */
  zero(out: Float32Array, n: number): void;
  /** out[i] = a[i] for i < n (appending keys and values to the KV cache). `out` must not overlap `a`. */
  copy(out: Float32Array, a: Float32Array, n: number): void;
  /** out[i] = out[i] · s for i < n, s f64 (gradient clipping, LoRA scaling). */
  scale(out: Float32Array, n: number, s: number): void;
  /**
   * out[i] = out[i] + s · a[i] for i < n, in f64 with the product and the sum each rounded (never a fused
   * multiply-add), s f64 (merging: W += s·ΔW).
   */
  axpy(out: Float32Array, a: Float32Array, n: number, s: number): void;
  /** out[i] = a[i] · b[i] for i < n (dropout: x ⊙ mask). `out` may alias `a` or `b`. */
  mul(out: Float32Array, a: Float32Array, b: Float32Array, n: number): void;
  /** out[i] = out[i] + a[i] · b[i] for i < n, in f64 (dropout backward: dx += g ⊙ mask). */
  addMul(out: Float32Array, a: Float32Array, b: Float32Array, n: number): void;
  /**
   * acc + Σ_{i<n} a[i]², summed in f64 one element after the other in index order (no tree, no threads), so that
   * a norm over many tensors, each call continuing the last one's sum, has the same bits on every backend.
   */
  sumSquares(a: Float32Array, n: number, acc: number): number;
  /**
   * Σ_{i<n} a[i], within f32 rounding of partial sums (order and threads unspecified: not bit-exact across backends
   * or thread counts). Reads memory at the machine's rate: the bench's read-only bandwidth probe.
   */
  sum(a: Float32Array, n: number): number;
  /** The smallest i < n with a[i] NaN or ±inf, or -1 when all n are finite. */
  firstNonFinite(a: Float32Array, n: number): number;

  // ---------------------------------------------------------------- dtype conversion
  /** out[i] = bf16 → f32 (exact). */
  bf16ToF32(out: Float32Array, inp: Uint16Array, n: number): void;
  /** out[i] = f32 → bf16, round to nearest even; NaN stays NaN. */
  f32ToBf16(out: Uint16Array, inp: Float32Array, n: number): void;
  /** out[i] = f16 → f32 (exact, subnormals and inf/NaN included). */
  f16ToF32(out: Float32Array, inp: Uint16Array, n: number): void;
  /** out[i] = f32 → f16, round to nearest even, overflow to inf. */
  f32ToF16(out: Uint16Array, inp: Float32Array, n: number): void;
}
