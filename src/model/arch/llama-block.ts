/**
 * The Llama-style block, forward and backward (llm.c style: every op writes into the activation arena and saves
 * what backward needs), its inference step with a KV cache, and the embedding and final RMSNorm around the blocks.
 * N = B·T rows; C hidden; Hq = heads·hd; Hkv = kvHeads·hd; F = intermediate size.
 * A layer with a sliding window attends through nn/capped-attention.ts when a sequence is longer than the window.
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
import type { Activations, LayerActivations } from "../activations.ts";
import type { ModelInput } from "../forward.ts";
import type { Model } from "../model.ts";
import { llamaMlpBackward, llamaMlpForward, mlpActForward, normScale } from "./llama-mlp.ts";
import type { LlamaArch, LlamaLayer, LlamaTop } from "./llama-style.ts";
import type { Buffers, InferenceStep } from "./spec.ts";

type LlamaModel = Model<LlamaLayer, LlamaTop>;

/** What the block's forward saves (sizes in llama-style.ts activations()); the q/k-norm buffers only with qk norms. */
interface Saved {
  ln1: Float32Array; // [N, C]
  rstd1: Float32Array; // [N]
  qPre?: Float32Array; // [N, Hq] q before q_norm (qwen3)
  kPre?: Float32Array; // [N, Hkv]
  qRstd?: Float32Array; // [N·heads]
  kRstd?: Float32Array; // [N·kvHeads]
  q: Float32Array; // [N, Hq] after RoPE
  k: Float32Array; // [N, Hkv] after RoPE
  v: Float32Array; // [N, Hkv]
  att: Float32Array; // [N, Hq]
  lse: Float32Array; // [B, heads, T]
  h: Float32Array; // [N, C] residual after attention
  // and the MLP's (ln2, rstd2, gate, up, act), per row chunk: llama-mlp.ts
}

/** Backward scratch shared by the blocks. */
interface Scratch {
  dln: Float32Array; // [N, C]
  dq: Float32Array; // [N, Hq]
  dk: Float32Array; // [N, Hkv]
  dv: Float32Array; // [N, Hkv]
  dqPre?: Float32Array; // [N, Hq]
  dkPre?: Float32Array; // [N, Hkv]
  datt: Float32Array; // [N, Hq]
  // and the MLP's (dact, dgate, dup) for one row chunk: llama-mlp.ts
}

/** The layer's sliding-window attention options when `length` tokens exceed its window, else null (kernels). */
function windowed(model: LlamaModel, w: LlamaLayer, length: number): AttentionOptions | null {
  if (w.window === 0 || length <= w.window) return null;
  return { scale: 1 / Math.sqrt(model.config.headDim), softcap: 0, window: w.window };
}

export function llamaEmbedForward(
  k: Kernels,
  model: LlamaModel,
  x: Float32Array,
  ids: Int32Array,
  _pos: Int32Array,
  N: number,
): void {
  const C = model.config.hiddenSize;
  embeddingForward(k, x, ids, model.embed, N, C);
  const scale = (model.config.arch as LlamaArch).embedScale;
  if (scale !== 1) for (let i = 0; i < N * C; i++) x[i] = x[i]! * scale; // Gemma: × √hidden
}

export function llamaEmbedBackward(
  k: Kernels,
  model: LlamaModel,
  dx: Float32Array,
  ids: Int32Array,
  _pos: Int32Array,
  N: number,
): void {
  if (!model.dEmbed) return;
  const C = model.config.hiddenSize;
  const scale = (model.config.arch as LlamaArch).embedScale;
  // dx is the last use of the backward's residual gradient: scaled in place (Gemma's × √hidden).
  if (scale !== 1) for (let i = 0; i < N * C; i++) dx[i] = dx[i]! * scale;
  embeddingBackward(k, model.dEmbed, dx, ids, N, C);
}

export function llamaFinalForward(
  k: Kernels,
  model: LlamaModel,
  out: Float32Array,
  x: Float32Array,
  saved: Buffers,
  N: number,
): void {
  const c = model.config;
  k.rmsnormForward(out, saved.rstdf!, x, normScale(model, model.top.norm.data), N, c.hiddenSize, c.normEps);
}

export function llamaFinalBackward(
  k: Kernels,
  model: LlamaModel,
  dx: Float32Array,
  dout: Float32Array,
  x: Float32Array,
  saved: Buffers,
  N: number,
): void {
  const norm = model.top.norm;
  k.rmsnormBackward(dx, norm.grad, dout, x, normScale(model, norm.data), saved.rstdf!, N, model.config.hiddenSize);
}

/** One block: a.resid → out, saving what backward needs into `a`. Also backward's recompute (checkpointing). */
export function llamaLayerForward(
  k: Kernels,
  model: LlamaModel,
  w: LlamaLayer,
  la: LayerActivations,
  out: Float32Array,
  input: ModelInput,
  dropout: DropoutSource,
): void {
  const c = model.config;
  const N = input.B * input.T;
  const C = c.hiddenSize;
  const eps = c.normEps;
  const rope = model.top.rope;
  const a = la.saved as unknown as Saved;
  k.rmsnormForward(a.ln1, a.rstd1, la.resid, normScale(model, w.inputNorm.data), N, C, eps);
  const lc = (name: string) => la.adapters.get(name) ?? null;
  linearForward(k, a.qPre ?? a.q, a.ln1, w.q, N, lc(w.q.name), dropout);
  linearForward(k, a.kPre ?? a.k, a.ln1, w.k, N, lc(w.k.name), dropout);
  linearForward(k, a.v, a.ln1, w.v, N, lc(w.v.name), dropout);
  if (w.qNorm && w.kNorm && a.qPre && a.kPre && a.qRstd && a.kRstd) {
    k.rmsnormForward(a.q, a.qRstd, a.qPre, normScale(model, w.qNorm.data), N * c.numHeads, c.headDim, eps);
    k.rmsnormForward(a.k, a.kRstd, a.kPre, normScale(model, w.kNorm.data), N * c.numKvHeads, c.headDim, eps);
  }
  k.ropeForward(a.q, input.pos, rope.cos, rope.sin, N, c.numHeads, c.headDim);
  k.ropeForward(a.k, input.pos, rope.cos, rope.sin, N, c.numKvHeads, c.headDim);
  const win = windowed(model, w, input.T);
  const shape = { B: input.B, T: input.T, nHead: c.numHeads, nKv: c.numKvHeads, headDim: c.headDim };
  if (win) cappedAttentionForward(a.att, a.lse, a.q, a.k, a.v, input.seg, shape, win);
  else
    k.attentionForward(a.att, a.lse, a.q, a.k, a.v, input.seg, input.B, input.T, c.numHeads, c.numKvHeads, c.headDim);
  linearForward(k, a.h, a.att, w.o, N, lc(w.o.name), dropout);
  k.addInPlace(a.h, la.resid, N * C);
  // Checkpointing's recompute stops here: backward recomputes the MLP a row chunk at a time (llama-mlp.ts).
  if (la.rowWindow && dropout === "replay") return;
  llamaMlpForward(k, model, w, la, out, N, dropout);
}

/**
 * On entry acts.dres = d(block output); on exit acts.dres = d(block input) (unless neither something below nor
 * the input norm's weight trains).
 */
export function llamaLayerBackward(
  k: Kernels,
  model: LlamaModel,
  w: LlamaLayer,
  la: LayerActivations,
  acts: Activations,
  input: ModelInput,
  needInputGrad: boolean,
): void {
  const c = model.config;
  const N = input.B * input.T;
  const C = c.hiddenSize;
  const rope = model.top.rope;
  const a = la.saved as unknown as Saved;
  const s = acts.scratch as unknown as Scratch;
  const { dres, dtmp, dxa } = acts;
  const dln = s.dln;
  const lc = (name: string) => la.adapters.get(name) ?? null;
  // The input norm's weight takes its gradient from d(ln1), so it needs the input-gradient path too.
  const needDln = needInputGrad || w.inputNorm.grad !== null;

  // MLP: out = h + down(silu(gate(ln2)) * up(ln2)), ln2 = rmsnorm(h); leaves dres = d(h)
  llamaMlpBackward(k, model, w, la, acts, N);

  // Attention: h = resid + o(attn(rope(q(ln1)), rope(k(ln1)), v(ln1))), ln1 = rmsnorm(resid)
  linearBackward(k, s.datt, dres, a.att, w.o, N, lc(w.o.name), dxa, false);
  const win = windowed(model, w, input.T);
  if (win) {
    const shape = { B: input.B, T: input.T, nHead: c.numHeads, nKv: c.numKvHeads, headDim: c.headDim };
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
      c.headDim,
    );
  }
  k.ropeBackward(s.dq, input.pos, rope.cos, rope.sin, N, c.numHeads, c.headDim);
  k.ropeBackward(s.dk, input.pos, rope.cos, rope.sin, N, c.numKvHeads, c.headDim);
  let dq = s.dq;
  let dk = s.dk;
  if (w.qNorm && w.kNorm && a.qPre && a.kPre && a.qRstd && a.kRstd && s.dqPre && s.dkPre) {
    const [qs, ks] = [normScale(model, w.qNorm.data), normScale(model, w.kNorm.data)];
    k.rmsnormBackward(s.dqPre, w.qNorm.grad, dq, a.qPre, qs, a.qRstd, N * c.numHeads, c.headDim);
    k.rmsnormBackward(s.dkPre, w.kNorm.grad, dk, a.kPre, ks, a.kRstd, N * c.numKvHeads, c.headDim);
    dq = s.dqPre;
    dk = s.dkPre;
  }
  const dIn = needDln ? dln : null;
  linearBackward(k, dIn, dq, a.ln1, w.q, N, lc(w.q.name), dxa, false);
  linearBackward(k, dIn, dk, a.ln1, w.k, N, lc(w.k.name), dxa, true);
  linearBackward(k, dIn, s.dv, a.ln1, w.v, N, lc(w.v.name), dxa, true);
  if (!needDln) return;
  k.rmsnormBackward(dtmp, w.inputNorm.grad, dln, la.resid, normScale(model, w.inputNorm.data), a.rstd1, N, C);
  k.addInPlace(dres, dtmp, N * C); // dres = d(resid)
}

/** Inference work buffers (sizes in llama-style.ts inferenceBuffers()). */
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
export function llamaInferenceStep(k: Kernels, model: LlamaModel, w: LlamaLayer, s: InferenceStep): void {
  const c = model.config;
  const C = c.hiddenSize;
  const eps = c.normEps;
  const hkv = c.numKvHeads * c.headDim;
  const rope = model.top.rope;
  const { x, n, pos, adapter } = s;
  const buf = s.work as unknown as Work;
  k.rmsnormForward(buf.ln, buf.rstd, x, normScale(model, w.inputNorm.data), n, C, eps);
  linearInfer(k, buf.q, buf.ln, w.q, n, adapter);
  linearInfer(k, buf.k, buf.ln, w.k, n, adapter);
  linearInfer(k, buf.v, buf.ln, w.v, n, adapter);
  if (w.qNorm && w.kNorm) {
    k.rmsnormForward(buf.q, buf.rstd, buf.q, normScale(model, w.qNorm.data), n * c.numHeads, c.headDim, eps);
    k.rmsnormForward(buf.k, buf.rstd, buf.k, normScale(model, w.kNorm.data), n * c.numKvHeads, c.headDim, eps);
  }
  k.ropeForward(buf.q, pos, rope.cos, rope.sin, n, c.numHeads, c.headDim);
  k.ropeForward(buf.k, pos, rope.cos, rope.sin, n, c.numKvHeads, c.headDim);
  k.copy(s.kCache.subarray(s.past * hkv), buf.k, n * hkv);
  k.copy(s.vCache.subarray(s.past * hkv), buf.v, n * hkv);
  const win = windowed(model, w, s.past + n);
  if (win) cappedAttentionKV(buf.att, buf.q, s.kCache, s.vCache, n, s.past, c.numHeads, c.numKvHeads, c.headDim, win);
  else k.attentionKV(buf.att, buf.q, s.kCache, s.vCache, n, s.past, c.numHeads, c.numKvHeads, c.headDim);
  linearInfer(k, buf.h, buf.att, w.o, n, adapter);
  k.addInPlace(buf.h, x, n * C);
  k.rmsnormForward(buf.ln, buf.rstd, buf.h, normScale(model, w.postNorm.data), n, C, eps);
  linearInfer(k, buf.gate, buf.ln, w.gate, n, adapter);
  linearInfer(k, buf.up, buf.ln, w.up, n, adapter);
  mlpActForward(k, model, buf.gate, buf.gate, buf.up, n * c.intermediateSize);
  linearInfer(k, x, buf.gate, w.down, n, adapter);
  k.addInPlace(x, buf.h, n * C);
}
