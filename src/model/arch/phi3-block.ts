/**
 * The Phi-3 block, forward and backward, its inference step with a KV cache, and the embedding and final RMSNorm:
 *   h   = x + o(attn(rope(q), rope(k), v)),  q | k | v = qkv_proj(rmsnorm(x))
 *   out = h + down(silu(gate) · up),          gate | up = gate_up_proj(rmsnorm(h))
 * N = B·T rows; C hidden; Hq = heads·hd; Hkv = kvHeads·hd; F intermediate. RoPE rotates the first rotaryDim dims
 * of each head (rotate-half within them); the rest pass through. With sliding_window, a sequence longer than the
 * window attends through nn/capped-attention.ts (keys t − window < s ≤ t); shorter ones through the kernels.
 */
import type { Kernels } from "../../kernels/types.ts";
import {
  type AttentionOptions,
  cappedAttentionBackward,
  cappedAttentionForward,
  cappedAttentionKV,
} from "../../nn/capped-attention.ts";
import { embeddingBackward, embeddingForward } from "../../nn/embedding.ts";
import { type DropoutSource, linearBackward, linearForward, linearInfer } from "../../nn/linear.ts";
import type { RopeTables } from "../../nn/rope-tables.ts";
import type { Activations, LayerActivations } from "../activations.ts";
import type { ModelInput } from "../forward.ts";
import type { Model } from "../model.ts";
import { type Phi3Layer, type Phi3Top, phi3Arch, phi3RopeFor } from "./phi3.ts";
import type { Buffers, InferenceStep } from "./spec.ts";

type Phi3Model = Model<Phi3Layer, Phi3Top>;

/** What the block's forward saves (sizes in phi3.ts activations()). */
interface Saved {
  ln1: Float32Array; // [N, C]
  rstd1: Float32Array; // [N]
  qkv: Float32Array; // [N, Hq + 2Hkv] (after the split: RoPE's gather scratch)
  q: Float32Array; // [N, Hq] after RoPE
  k: Float32Array; // [N, Hkv] after RoPE
  v: Float32Array; // [N, Hkv]
  att: Float32Array; // [N, Hq]
  lse: Float32Array; // [B, heads, T]
  h: Float32Array; // [N, C]
  ln2: Float32Array; // [N, C]
  rstd2: Float32Array; // [N]
  gu: Float32Array; // [N, 2F]
  gate: Float32Array; // [N, F]
  up: Float32Array; // [N, F]
  act: Float32Array; // [N, F]
}

interface Scratch {
  dln: Float32Array; // [N, C]
  dqkv: Float32Array; // [N, Hq + 2Hkv]
  dq: Float32Array; // [N, Hq]
  dk: Float32Array; // [N, Hkv]
  dv: Float32Array; // [N, Hkv]
  datt: Float32Array; // [N, Hq]
  dact: Float32Array; // [N, F]
  dgate: Float32Array; // [N, F]
  dup: Float32Array; // [N, F]
  dgu: Float32Array; // [N, 2F]
}

/** parts[j] [n, widths[j]] from the rows of fused [n, Σ widths] (fused = parts side by side per row). */
export function splitRows(fused: Float32Array, parts: Float32Array[], widths: number[], n: number): void {
  const W = widths.reduce((s, w) => s + w, 0);
  for (let i = 0; i < n; i++) {
    let o = i * W;
    for (let j = 0; j < parts.length; j++) {
      const w = widths[j]!;
      parts[j]!.set(fused.subarray(o, o + w), i * w);
      o += w;
    }
  }
}

/** The transpose of splitRows: fused [n, Σ widths] from parts. */
export function joinRows(fused: Float32Array, parts: Float32Array[], widths: number[], n: number): void {
  const W = widths.reduce((s, w) => s + w, 0);
  for (let i = 0; i < n; i++) {
    let o = i * W;
    for (let j = 0; j < parts.length; j++) {
      const w = widths[j]!;
      fused.set(parts[j]!.subarray(i * w, (i + 1) * w), o);
      o += w;
    }
  }
}

/**
 * RoPE on the first rd dims of each head of x [n, heads·hd], in place (backward: the transpose). With rd < hd the
 * rotated dims are gathered into scratch (≥ n·heads·rd values; the fused qkv buffer, free once split) for the
 * kernel and scattered back.
 */
export function partialRope(
  k: Kernels,
  x: Float32Array,
  pos: Int32Array,
  rope: RopeTables,
  n: number,
  heads: number,
  hd: number,
  rd: number,
  backward: boolean,
  scratch: Float32Array,
): void {
  const apply = (buf: Float32Array, dim: number) =>
    backward
      ? k.ropeBackward(buf, pos, rope.cos, rope.sin, n, heads, dim)
      : k.ropeForward(buf, pos, rope.cos, rope.sin, n, heads, dim);
  if (rd === hd) {
    apply(x, hd);
    return;
  }
  const rot = scratch.subarray(0, n * heads * rd);
  for (let r = 0; r < n * heads; r++) rot.set(x.subarray(r * hd, r * hd + rd), r * rd);
  apply(rot, rd);
  for (let r = 0; r < n * heads; r++) x.set(rot.subarray(r * rd, (r + 1) * rd), r * hd);
}

/** The sliding window's attention options when `length` (tokens of a sequence) exceeds it, else null (kernels). */
function windowed(c: Model["config"], length: number): AttentionOptions | null {
  const window = phi3Arch(c).slidingWindow;
  if (window === 0 || length <= window) return null;
  return { scale: 1 / Math.sqrt(c.headDim), softcap: 0, window };
}

export function phi3EmbedForward(
  k: Kernels,
  model: Phi3Model,
  x: Float32Array,
  ids: Int32Array,
  _pos: Int32Array,
  N: number,
): void {
  embeddingForward(k, x, ids, model.embed, N, model.config.hiddenSize);
}

export function phi3EmbedBackward(
  k: Kernels,
  model: Phi3Model,
  dx: Float32Array,
  ids: Int32Array,
  _pos: Int32Array,
  N: number,
): void {
  if (model.dEmbed) embeddingBackward(k, model.dEmbed, dx, ids, N, model.config.hiddenSize);
}

export function phi3FinalForward(
  k: Kernels,
  model: Phi3Model,
  out: Float32Array,
  x: Float32Array,
  saved: Buffers,
  N: number,
): void {
  const c = model.config;
  k.rmsnormForward(out, saved.rstdf!, x, model.top.norm.data, N, c.hiddenSize, c.normEps);
}

export function phi3FinalBackward(
  k: Kernels,
  model: Phi3Model,
  dx: Float32Array,
  dout: Float32Array,
  x: Float32Array,
  saved: Buffers,
  N: number,
): void {
  const norm = model.top.norm;
  k.rmsnormBackward(dx, norm.grad, dout, x, norm.data, saved.rstdf!, N, model.config.hiddenSize);
}

/** One block: a.resid → out, saving what backward needs. Also backward's recompute (checkpointing). */
export function phi3LayerForward(
  k: Kernels,
  model: Phi3Model,
  w: Phi3Layer,
  la: LayerActivations,
  out: Float32Array,
  input: ModelInput,
  dropout: DropoutSource,
): void {
  const c = model.config;
  const N = input.B * input.T;
  const C = c.hiddenSize;
  const F = c.intermediateSize;
  const hd = c.headDim;
  const rd = phi3Arch(c).rotaryDim;
  const rope = phi3RopeFor(c, model.top, input.pos, N);
  const a = la.saved as unknown as Saved;
  const lc = (name: string) => la.adapters.get(name) ?? null;
  k.rmsnormForward(a.ln1, a.rstd1, la.resid, w.inputNorm.data, N, C, c.normEps);
  linearForward(k, a.qkv, a.ln1, w.qkv, N, lc(w.qkv.name), dropout);
  splitRows(a.qkv, [a.q, a.k, a.v], [c.numHeads * hd, c.numKvHeads * hd, c.numKvHeads * hd], N);
  partialRope(k, a.q, input.pos, rope, N, c.numHeads, hd, rd, false, a.qkv);
  partialRope(k, a.k, input.pos, rope, N, c.numKvHeads, hd, rd, false, a.qkv);
  const win = windowed(c, input.T);
  const shape = { B: input.B, T: input.T, nHead: c.numHeads, nKv: c.numKvHeads, headDim: hd };
  if (win) cappedAttentionForward(a.att, a.lse, a.q, a.k, a.v, input.seg, shape, win);
  else k.attentionForward(a.att, a.lse, a.q, a.k, a.v, input.seg, input.B, input.T, c.numHeads, c.numKvHeads, hd);
  linearForward(k, a.h, a.att, w.o, N, lc(w.o.name), dropout);
  k.addInPlace(a.h, la.resid, N * C);
  k.rmsnormForward(a.ln2, a.rstd2, a.h, w.postNorm.data, N, C, c.normEps);
  linearForward(k, a.gu, a.ln2, w.gateUp, N, lc(w.gateUp.name), dropout);
  splitRows(a.gu, [a.gate, a.up], [F, F], N);
  k.swigluForward(a.act, a.gate, a.up, N * F);
  linearForward(k, out, a.act, w.down, N, lc(w.down.name), dropout);
  k.addInPlace(out, a.h, N * C);
}

/** On entry acts.dres = d(block output); on exit d(block input) (when needed). */
export function phi3LayerBackward(
  k: Kernels,
  model: Phi3Model,
  w: Phi3Layer,
  la: LayerActivations,
  acts: Activations,
  input: ModelInput,
  needInputGrad: boolean,
): void {
  const c = model.config;
  const N = input.B * input.T;
  const C = c.hiddenSize;
  const F = c.intermediateSize;
  const hd = c.headDim;
  const rd = phi3Arch(c).rotaryDim;
  const rope = phi3RopeFor(c, model.top, input.pos, N);
  const a = la.saved as unknown as Saved;
  const s = acts.scratch as unknown as Scratch;
  const { dres, dtmp, dxa } = acts;
  const lc = (name: string) => la.adapters.get(name) ?? null;
  const needDln = needInputGrad || w.inputNorm.grad !== null;

  // MLP: out = h + down(act), act = silu(gate) · up, gate | up = gate_up(ln2), ln2 = rmsnorm(h)
  linearBackward(k, s.dact, dres, a.act, w.down, N, lc(w.down.name), dxa, false);
  k.swigluBackward(s.dgate, s.dup, s.dact, a.gate, a.up, N * F);
  joinRows(s.dgu, [s.dgate, s.dup], [F, F], N);
  linearBackward(k, s.dln, s.dgu, a.ln2, w.gateUp, N, lc(w.gateUp.name), dxa, false);
  k.rmsnormBackward(dtmp, w.postNorm.grad, s.dln, a.h, w.postNorm.data, a.rstd2, N, C);
  k.addInPlace(dres, dtmp, N * C); // dres = d(h)

  // Attention: h = resid + o(attn(rope(q), rope(k), v))
  linearBackward(k, s.datt, dres, a.att, w.o, N, lc(w.o.name), dxa, false);
  const win = windowed(c, input.T);
  if (win) {
    const shape = { B: input.B, T: input.T, nHead: c.numHeads, nKv: c.numKvHeads, headDim: hd };
    cappedAttentionBackward(s.dq, s.dk, s.dv, s.datt, a.q, a.k, a.v, a.att, a.lse, input.seg, shape, win);
  } else {
    k.attentionBackward(
      s.dq,
      s.dk,
      s.dv,
      s.datt,
      a.q,
      a.k,
      a.v,
      a.att,
      a.lse,
      input.seg,
      input.B,
      input.T,
      c.numHeads,
      c.numKvHeads,
      hd,
    );
  }
  partialRope(k, s.dq, input.pos, rope, N, c.numHeads, hd, rd, true, s.dqkv);
  partialRope(k, s.dk, input.pos, rope, N, c.numKvHeads, hd, rd, true, s.dqkv);
  joinRows(s.dqkv, [s.dq, s.dk, s.dv], [c.numHeads * hd, c.numKvHeads * hd, c.numKvHeads * hd], N);
  linearBackward(k, needDln ? s.dln : null, s.dqkv, a.ln1, w.qkv, N, lc(w.qkv.name), dxa, false);
  if (!needDln) return;
  k.rmsnormBackward(dtmp, w.inputNorm.grad, s.dln, la.resid, w.inputNorm.data, a.rstd1, N, C);
  k.addInPlace(dres, dtmp, N * C); // dres = d(resid)
}

interface Work {
  ln: Float32Array; // [n, C]
  rstd: Float32Array; // [n]
  qkv: Float32Array; // [n, Hq + 2Hkv]
  q: Float32Array; // [n, Hq]
  k: Float32Array; // [n, Hkv]
  v: Float32Array; // [n, Hkv]
  att: Float32Array; // [n, Hq]
  h: Float32Array; // [n, C]
  gu: Float32Array; // [n, 2F]
  gate: Float32Array; // [n, F]
  up: Float32Array; // [n, F]
}

/** One block over an inference chunk of n rows, appending its keys and values to the cache. */
export function phi3InferenceStep(k: Kernels, model: Phi3Model, w: Phi3Layer, s: InferenceStep): void {
  const c = model.config;
  const C = c.hiddenSize;
  const F = c.intermediateSize;
  const hd = c.headDim;
  const hkv = c.numKvHeads * hd;
  const rd = phi3Arch(c).rotaryDim;
  const { x, n, pos, adapter } = s;
  const rope = phi3RopeFor(c, model.top, pos, n);
  const b = s.work as unknown as Work;
  k.rmsnormForward(b.ln, b.rstd, x, w.inputNorm.data, n, C, c.normEps);
  linearInfer(k, b.qkv, b.ln, w.qkv, n, adapter);
  splitRows(b.qkv, [b.q, b.k, b.v], [c.numHeads * hd, hkv, hkv], n);
  partialRope(k, b.q, pos, rope, n, c.numHeads, hd, rd, false, b.qkv);
  partialRope(k, b.k, pos, rope, n, c.numKvHeads, hd, rd, false, b.qkv);
  k.copy(s.kCache.subarray(s.past * hkv), b.k, n * hkv);
  k.copy(s.vCache.subarray(s.past * hkv), b.v, n * hkv);
  const win = windowed(c, s.past + n);
  if (win) cappedAttentionKV(b.att, b.q, s.kCache, s.vCache, n, s.past, c.numHeads, c.numKvHeads, hd, win);
  else k.attentionKV(b.att, b.q, s.kCache, s.vCache, n, s.past, c.numHeads, c.numKvHeads, hd);
  linearInfer(k, b.h, b.att, w.o, n, adapter);
  k.addInPlace(b.h, x, n * C);
  k.rmsnormForward(b.ln, b.rstd, b.h, w.postNorm.data, n, C, c.normEps);
  linearInfer(k, b.gu, b.ln, w.gateUp, n, adapter);
  splitRows(b.gu, [b.gate, b.up], [F, F], n);
  k.swigluForward(b.gate, b.gate, b.up, n * F);
  linearInfer(k, x, b.gate, w.down, n, adapter);
  k.addInPlace(x, b.h, n * C);
}
