/**
 * The Gemma 2 block, forward and backward, its inference step with a KV cache, and the embedding and final norm
 * around the blocks:
 *   h   = x + postAttnNorm(o(attn(rope(q(ln1)), rope(k(ln1)), v(ln1))))       ln1 = inputNorm(x)
 *   out = h + postFfNorm(down(gelu_tanh(gate(ln2)) ⊙ up(ln2)))                 ln2 = preFfNorm(h)
 * (Gemma 3: q and k RMSNorm-ed over head_dim before RoPE, each layer its own RoPE tables), every norm an RMSNorm
 * scaling by 1 + w, attention by nn/capped-attention.ts (query_pre_attn_scalar^-0.5,
 * soft-capped, the layer's window). N = B·T rows; C hidden; Hq = heads·hd; Hkv = kvHeads·hd; F intermediate.
 */
import type { Kernels } from "../../kernels/types.ts";
import {
  type AttentionOptions,
  cappedAttentionBackward,
  cappedAttentionForward,
  cappedAttentionKV,
} from "../../nn/capped-attention.ts";
import { embeddingBackward, embeddingForward } from "../../nn/embedding.ts";
import { gegluBackward, gegluForward } from "../../nn/geglu.ts";
import { type DropoutSource, linearBackward, linearForward, linearInfer } from "../../nn/linear.ts";
import type { Activations, LayerActivations } from "../activations.ts";
import type { ModelInput } from "../forward.ts";
import type { Model } from "../model.ts";
import type { Gemma2Arch, Gemma2Layer, Gemma2Top } from "./gemma2.ts";
import type { Buffers, InferenceStep } from "./spec.ts";

type Gemma2Model = Model<Gemma2Layer, Gemma2Top>;

/** What the block's forward saves (sizes in gemma2.ts activations()). */
interface Saved {
  ln1: Float32Array; // [N, C]
  rstd1: Float32Array; // [N]
  qPre?: Float32Array; // [N, Hq] q before q_norm (Gemma 3)
  kPre?: Float32Array; // [N, Hkv]
  qRstd?: Float32Array; // [N·heads]
  kRstd?: Float32Array; // [N·kvHeads]
  q: Float32Array; // [N, Hq] after RoPE
  k: Float32Array; // [N, Hkv] after RoPE
  v: Float32Array; // [N, Hkv]
  att: Float32Array; // [N, Hq]
  lse: Float32Array; // [B, heads, T]
  ao: Float32Array; // [N, C] o_proj's output
  rstdPa: Float32Array; // [N]
  h: Float32Array; // [N, C]
  ln2: Float32Array; // [N, C]
  rstd2: Float32Array; // [N]
  gate: Float32Array; // [N, F]
  up: Float32Array; // [N, F]
  act: Float32Array; // [N, F]
  mo: Float32Array; // [N, C] down_proj's output
  rstdPf: Float32Array; // [N]
}

/** Backward scratch shared by the blocks. */
interface Scratch {
  dln: Float32Array; // [N, C]
  dq: Float32Array; // [N, Hq]
  dk: Float32Array; // [N, Hkv]
  dv: Float32Array; // [N, Hkv]
  dqPre?: Float32Array; // [N, Hq] (Gemma 3)
  dkPre?: Float32Array; // [N, Hkv]
  datt: Float32Array; // [N, Hq]
  dao: Float32Array; // [N, C] d(o_proj's output), then d(down_proj's output)
  dact: Float32Array; // [N, F]
  dgate: Float32Array; // [N, F]
  dup: Float32Array; // [N, F]
}

const arch = (model: Gemma2Model) => model.config.arch as Gemma2Arch;

/** 1 + w: the scale of Gemma's RMSNorm (a fresh f32 array; its gradient is w's). */
function plusOne(w: Float32Array): Float32Array {
  return Float32Array.from(w, (v) => 1 + v);
}

function attnOptions(model: Gemma2Model, w: Gemma2Layer): AttentionOptions {
  const a = arch(model);
  return { scale: a.attnScale, softcap: a.attnSoftcap, window: w.window };
}

/**
 * The options reduce to the kernels' attention (scale 1/√hd, no cap, a window covering all `T` keys: Gemma 3's
 * global layers where query_pre_attn_scalar = head_dim), which then runs instead of the plain-TS one. Both save the
 * same lse (log-sum-exp of the scaled scores), so either backward reads either forward's.
 */
function kernelAttention(o: AttentionOptions, hd: number, T: number): boolean {
  return o.softcap === 0 && (o.window === 0 || o.window >= T) && o.scale === 1 / Math.sqrt(hd);
}

/** x[N, C] = embed[ids] · √hidden (f32). */
export function gemma2EmbedForward(
  k: Kernels,
  model: Gemma2Model,
  x: Float32Array,
  ids: Int32Array,
  _pos: Int32Array,
  N: number,
): void {
  const C = model.config.hiddenSize;
  embeddingForward(k, x, ids, model.embed, N, C);
  const scale = arch(model).embedScale;
  for (let i = 0; i < N * C; i++) x[i] = x[i]! * scale;
}

/** The embedding's gradient (when it trains) from dx[N, C], scaled in place by √hidden (dx's last use). */
export function gemma2EmbedBackward(
  k: Kernels,
  model: Gemma2Model,
  dx: Float32Array,
  ids: Int32Array,
  _pos: Int32Array,
  N: number,
): void {
  if (!model.dEmbed) return;
  const C = model.config.hiddenSize;
  const scale = arch(model).embedScale;
  for (let i = 0; i < N * C; i++) dx[i] = dx[i]! * scale;
  embeddingBackward(k, model.dEmbed, dx, ids, N, C);
}

export function gemma2FinalForward(
  k: Kernels,
  model: Gemma2Model,
  out: Float32Array,
  x: Float32Array,
  saved: Buffers,
  N: number,
): void {
  const c = model.config;
  k.rmsnormForward(out, saved.rstdf!, x, plusOne(model.top.norm.data), N, c.hiddenSize, c.normEps);
}

export function gemma2FinalBackward(
  k: Kernels,
  model: Gemma2Model,
  dx: Float32Array,
  dout: Float32Array,
  x: Float32Array,
  saved: Buffers,
  N: number,
): void {
  const norm = model.top.norm;
  k.rmsnormBackward(dx, norm.grad, dout, x, plusOne(norm.data), saved.rstdf!, N, model.config.hiddenSize);
}

/** One block: a.resid → out, saving what backward needs into `a`. Also backward's recompute (checkpointing). */
export function gemma2LayerForward(
  k: Kernels,
  model: Gemma2Model,
  w: Gemma2Layer,
  la: LayerActivations,
  out: Float32Array,
  input: ModelInput,
  dropout: DropoutSource,
): void {
  const c = model.config;
  const N = input.B * input.T;
  const C = c.hiddenSize;
  const eps = c.normEps;
  const rope = w.rope;
  const a = la.saved as unknown as Saved;
  const lc = (name: string) => la.adapters.get(name) ?? null;
  const shape = { B: input.B, T: input.T, nHead: c.numHeads, nKv: c.numKvHeads, headDim: c.headDim };
  k.rmsnormForward(a.ln1, a.rstd1, la.resid, plusOne(w.inputNorm.data), N, C, eps);
  linearForward(k, a.qPre ?? a.q, a.ln1, w.q, N, lc(w.q.name), dropout);
  linearForward(k, a.kPre ?? a.k, a.ln1, w.k, N, lc(w.k.name), dropout);
  linearForward(k, a.v, a.ln1, w.v, N, lc(w.v.name), dropout);
  if (w.qNorm && w.kNorm && a.qPre && a.kPre && a.qRstd && a.kRstd) {
    k.rmsnormForward(a.q, a.qRstd, a.qPre, plusOne(w.qNorm.data), N * c.numHeads, c.headDim, eps);
    k.rmsnormForward(a.k, a.kRstd, a.kPre, plusOne(w.kNorm.data), N * c.numKvHeads, c.headDim, eps);
  }
  k.ropeForward(a.q, input.pos, rope.cos, rope.sin, N, c.numHeads, c.headDim);
  k.ropeForward(a.k, input.pos, rope.cos, rope.sin, N, c.numKvHeads, c.headDim);
  const opts = attnOptions(model, w);
  if (kernelAttention(opts, c.headDim, input.T)) {
    k.attentionForward(a.att, a.lse, a.q, a.k, a.v, input.seg, input.B, input.T, c.numHeads, c.numKvHeads, c.headDim);
  } else {
    cappedAttentionForward(a.att, a.lse, a.q, a.k, a.v, input.seg, shape, opts);
  }
  linearForward(k, a.ao, a.att, w.o, N, lc(w.o.name), dropout);
  k.rmsnormForward(a.h, a.rstdPa, a.ao, plusOne(w.postAttnNorm.data), N, C, eps);
  k.addInPlace(a.h, la.resid, N * C);
  k.rmsnormForward(a.ln2, a.rstd2, a.h, plusOne(w.preFfNorm.data), N, C, eps);
  linearForward(k, a.gate, a.ln2, w.gate, N, lc(w.gate.name), dropout);
  linearForward(k, a.up, a.ln2, w.up, N, lc(w.up.name), dropout);
  gegluForward(a.act, a.gate, a.up, N * c.intermediateSize);
  linearForward(k, a.mo, a.act, w.down, N, lc(w.down.name), dropout);
  k.rmsnormForward(out, a.rstdPf, a.mo, plusOne(w.postFfNorm.data), N, C, eps);
  k.addInPlace(out, a.h, N * C);
}

/**
 * On entry acts.dres = d(block output); on exit acts.dres = d(block input) (unless neither something below nor
 * the input norm's weight trains).
 */
export function gemma2LayerBackward(
  k: Kernels,
  model: Gemma2Model,
  w: Gemma2Layer,
  la: LayerActivations,
  acts: Activations,
  input: ModelInput,
  needInputGrad: boolean,
): void {
  const c = model.config;
  const N = input.B * input.T;
  const C = c.hiddenSize;
  const F = c.intermediateSize;
  const rope = w.rope;
  const a = la.saved as unknown as Saved;
  const s = acts.scratch as unknown as Scratch;
  const { dres, dtmp, dxa } = acts;
  const lc = (name: string) => la.adapters.get(name) ?? null;
  const shape = { B: input.B, T: input.T, nHead: c.numHeads, nKv: c.numKvHeads, headDim: c.headDim };

  // MLP: out = h + postFfNorm(mo), mo = down(geglu(gate(ln2), up(ln2))), ln2 = preFfNorm(h); leaves dres = d(h).
  k.rmsnormBackward(s.dao, w.postFfNorm.grad, dres, a.mo, plusOne(w.postFfNorm.data), a.rstdPf, N, C);
  linearBackward(k, s.dact, s.dao, a.act, w.down, N, lc(w.down.name), dxa, false);
  gegluBackward(s.dgate, s.dup, s.dact, a.gate, a.up, N * F);
  linearBackward(k, s.dln, s.dgate, a.ln2, w.gate, N, lc(w.gate.name), dxa, false);
  linearBackward(k, s.dln, s.dup, a.ln2, w.up, N, lc(w.up.name), dxa, true);
  k.rmsnormBackward(dtmp, w.preFfNorm.grad, s.dln, a.h, plusOne(w.preFfNorm.data), a.rstd2, N, C);
  k.addInPlace(dres, dtmp, N * C);

  // Attention: h = resid + postAttnNorm(ao), ao = o(attn(...)), q/k/v from ln1 = inputNorm(resid).
  k.rmsnormBackward(s.dao, w.postAttnNorm.grad, dres, a.ao, plusOne(w.postAttnNorm.data), a.rstdPa, N, C);
  linearBackward(k, s.datt, s.dao, a.att, w.o, N, lc(w.o.name), dxa, false);
  const opts = attnOptions(model, w);
  if (kernelAttention(opts, c.headDim, input.T)) {
    const { B, T } = input;
    const [q, kk, v] = [a.q, a.k, a.v];
    k.attentionBackward(
      s.dq,
      s.dk,
      s.dv,
      s.datt,
      q,
      kk,
      v,
      a.att,
      a.lse,
      input.seg,
      B,
      T,
      c.numHeads,
      c.numKvHeads,
      c.headDim,
    );
  } else {
    cappedAttentionBackward(s.dq, s.dk, s.dv, s.datt, a.q, a.k, a.v, a.att, a.lse, input.seg, shape, opts);
  }
  k.ropeBackward(s.dq, input.pos, rope.cos, rope.sin, N, c.numHeads, c.headDim);
  k.ropeBackward(s.dk, input.pos, rope.cos, rope.sin, N, c.numKvHeads, c.headDim);
  let dq = s.dq;
  let dk = s.dk;
  if (w.qNorm && w.kNorm && a.qPre && a.kPre && a.qRstd && a.kRstd && s.dqPre && s.dkPre) {
    const [qs, ks] = [plusOne(w.qNorm.data), plusOne(w.kNorm.data)];
    k.rmsnormBackward(s.dqPre, w.qNorm.grad, dq, a.qPre, qs, a.qRstd, N * c.numHeads, c.headDim);
    k.rmsnormBackward(s.dkPre, w.kNorm.grad, dk, a.kPre, ks, a.kRstd, N * c.numKvHeads, c.headDim);
    dq = s.dqPre;
    dk = s.dkPre;
  }
  // The input norm's weight takes its gradient from d(ln1), so it needs the input-gradient path too.
  const needDln = needInputGrad || w.inputNorm.grad !== null;
  const dIn = needDln ? s.dln : null;
  linearBackward(k, dIn, dq, a.ln1, w.q, N, lc(w.q.name), dxa, false);
  linearBackward(k, dIn, dk, a.ln1, w.k, N, lc(w.k.name), dxa, true);
  linearBackward(k, dIn, s.dv, a.ln1, w.v, N, lc(w.v.name), dxa, true);
  if (!needDln) return;
  k.rmsnormBackward(dtmp, w.inputNorm.grad, s.dln, la.resid, plusOne(w.inputNorm.data), a.rstd1, N, C);
  k.addInPlace(dres, dtmp, N * C); // dres = d(resid)
}

/** Inference work buffers (sizes in gemma2.ts inferenceBuffers()). */
interface Work {
  ln: Float32Array; // [n, C]
  rstd: Float32Array; // [n·heads]
  q: Float32Array; // [n, Hq]
  k: Float32Array; // [n, Hkv]
  v: Float32Array; // [n, Hkv]
  att: Float32Array; // [n, Hq]
  h: Float32Array; // [n, C]
  gate: Float32Array; // [n, F]
  up: Float32Array; // [n, F]
}

/** One block over an inference chunk of n rows, appending its keys and values to the cache. */
export function gemma2InferenceStep(k: Kernels, model: Gemma2Model, w: Gemma2Layer, s: InferenceStep): void {
  const c = model.config;
  const C = c.hiddenSize;
  const eps = c.normEps;
  const hkv = c.numKvHeads * c.headDim;
  const rope = w.rope;
  const { x, n, pos, adapter } = s;
  const b = s.work as unknown as Work;
  k.rmsnormForward(b.ln, b.rstd, x, plusOne(w.inputNorm.data), n, C, eps);
  linearInfer(k, b.q, b.ln, w.q, n, adapter);
  linearInfer(k, b.k, b.ln, w.k, n, adapter);
  linearInfer(k, b.v, b.ln, w.v, n, adapter);
  if (w.qNorm && w.kNorm) {
    k.rmsnormForward(b.q, b.rstd, b.q, plusOne(w.qNorm.data), n * c.numHeads, c.headDim, eps);
    k.rmsnormForward(b.k, b.rstd, b.k, plusOne(w.kNorm.data), n * c.numKvHeads, c.headDim, eps);
  }
  k.ropeForward(b.q, pos, rope.cos, rope.sin, n, c.numHeads, c.headDim);
  k.ropeForward(b.k, pos, rope.cos, rope.sin, n, c.numKvHeads, c.headDim);
  k.copy(s.kCache.subarray(s.past * hkv), b.k, n * hkv);
  k.copy(s.vCache.subarray(s.past * hkv), b.v, n * hkv);
  const opts = attnOptions(model, w);
  if (kernelAttention(opts, c.headDim, s.past + n)) {
    k.attentionKV(b.att, b.q, s.kCache, s.vCache, n, s.past, c.numHeads, c.numKvHeads, c.headDim);
  } else {
    cappedAttentionKV(b.att, b.q, s.kCache, s.vCache, n, s.past, c.numHeads, c.numKvHeads, c.headDim, opts);
  }
  linearInfer(k, b.ln, b.att, w.o, n, adapter);
  k.rmsnormForward(b.h, b.rstd, b.ln, plusOne(w.postAttnNorm.data), n, C, eps);
  k.addInPlace(b.h, x, n * C);
  k.rmsnormForward(b.ln, b.rstd, b.h, plusOne(w.preFfNorm.data), n, C, eps);
  linearInfer(k, b.gate, b.ln, w.gate, n, adapter);
  linearInfer(k, b.up, b.ln, w.up, n, adapter);
  gegluForward(b.gate, b.gate, b.up, n * c.intermediateSize);
  linearInfer(k, b.ln, b.gate, w.down, n, adapter);
  k.rmsnormForward(x, b.rstd, b.ln, plusOne(w.postFfNorm.data), n, C, eps);
  k.addInPlace(x, b.h, n * C);
}
