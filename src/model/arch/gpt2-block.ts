/**
 * The GPT-2 block, forward and backward, its inference step with a KV cache, and the embeddings (wte + wpe) and
 * final LayerNorm around the blocks:
 *   h   = x + c_proj(attn(split(c_attn(ln_1(x)))))
 *   out = h + mlp.c_proj(gelu(c_fc(ln_2(h))))
 * N = B·T rows; C hidden (= heads·hd); F the MLP width. c_attn's output row is q | k | v (C each), split into the
 * contiguous q, k, v the attention kernels take.
 */
import type { Kernels } from "../../kernels/types.ts";
import { embeddingBackward, embeddingForward } from "../../nn/embedding.ts";
import { geluBackward, geluForward } from "../../nn/gelu.ts";
import { layerNormBackward, layerNormForward } from "../../nn/layernorm.ts";
import { type DropoutSource, linearBackward, linearForward, linearInfer } from "../../nn/linear.ts";
import type { Activations, LayerActivations } from "../activations.ts";
import type { ModelInput } from "../forward.ts";
import type { Model } from "../model.ts";
import type { Gpt2Layer, Gpt2Top } from "./gpt2.ts";
import type { Buffers, InferenceStep } from "./spec.ts";

type Gpt2Model = Model<Gpt2Layer, Gpt2Top>;

/** What the block's forward saves (sizes in gpt2.ts activations()). */
interface Saved {
  ln1: Float32Array; // [N, C]
  mean1: Float32Array; // [N]
  rstd1: Float32Array; // [N]
  qkv: Float32Array; // [N, 3C]
  q: Float32Array; // [N, C]
  k: Float32Array; // [N, C]
  v: Float32Array; // [N, C]
  att: Float32Array; // [N, C]
  lse: Float32Array; // [B, heads, T]
  h: Float32Array; // [N, C]
  ln2: Float32Array; // [N, C]
  mean2: Float32Array; // [N]
  rstd2: Float32Array; // [N]
  fc: Float32Array; // [N, F]
  act: Float32Array; // [N, F]
}

/** Backward scratch shared by the blocks. */
interface Scratch {
  dln: Float32Array; // [N, C]
  dqkv: Float32Array; // [N, 3C]
  dq: Float32Array; // [N, C]
  dk: Float32Array; // [N, C]
  dv: Float32Array; // [N, C]
  datt: Float32Array; // [N, C]
  dfc: Float32Array; // [N, F] d(act), then d(fc) in place
}

/** q, k, v [n, C] from the rows q | k | v of qkv [n, 3C]. */
function splitQkv(q: Float32Array, k: Float32Array, v: Float32Array, qkv: Float32Array, n: number, C: number): void {
  for (let i = 0; i < n; i++) {
    const row = qkv.subarray(i * 3 * C, (i + 1) * 3 * C);
    q.set(row.subarray(0, C), i * C);
    k.set(row.subarray(C, 2 * C), i * C);
    v.set(row.subarray(2 * C), i * C);
  }
}

/** The transpose of splitQkv: dqkv [n, 3C] from dq, dk, dv [n, C]. */
function joinQkv(dqkv: Float32Array, dq: Float32Array, dk: Float32Array, dv: Float32Array, n: number, C: number): void {
  for (let i = 0; i < n; i++) {
    const o = i * 3 * C;
    dqkv.set(dq.subarray(i * C, (i + 1) * C), o);
    dqkv.set(dk.subarray(i * C, (i + 1) * C), o + C);
    dqkv.set(dv.subarray(i * C, (i + 1) * C), o + 2 * C);
  }
}

/** x[N, C] = wte[ids] + wpe[pos]. */
export function gpt2EmbedForward(
  k: Kernels,
  model: Gpt2Model,
  x: Float32Array,
  ids: Int32Array,
  pos: Int32Array,
  N: number,
): void {
  const C = model.config.hiddenSize;
  const wpe = model.top.wpe;
  embeddingForward(k, x, ids, model.embed, N, C);
  for (let i = 0; i < N; i++) {
    const p = pos[i]!;
    checkPosition(p, wpe.shape[0]!);
    k.addInPlace(x.subarray(i * C, (i + 1) * C), wpe.data.subarray(p * C, (p + 1) * C), C);
  }
}

/** Gradients of wte (when it trains: model.dEmbed) and of wpe (full fine-tuning: wpe.grad) from dx[N, C]. */
export function gpt2EmbedBackward(
  k: Kernels,
  model: Gpt2Model,
  dx: Float32Array,
  ids: Int32Array,
  pos: Int32Array,
  N: number,
): void {
  const C = model.config.hiddenSize;
  if (model.dEmbed) embeddingBackward(k, model.dEmbed, dx, ids, N, C);
  const dwpe = model.top.wpe.grad;
  if (dwpe) embeddingBackward(k, dwpe, dx, pos, N, C);
}

/** A position id must have a row of wpe (n_positions). */
function checkPosition(p: number, positions: number): void {
  if (p < 0 || p >= positions) {
    throw new RangeError(`GPT-2 position ${p} is past its learned position embeddings (n_positions ${positions})`);
  }
}

export function gpt2FinalForward(
  _k: Kernels,
  model: Gpt2Model,
  out: Float32Array,
  x: Float32Array,
  saved: Buffers,
  N: number,
): void {
  const { weight, bias } = model.top.lnf;
  const c = model.config;
  layerNormForward(out, saved.meanf!, saved.rstdf!, x, weight.data, bias.data, N, c.hiddenSize, c.normEps);
}

export function gpt2FinalBackward(
  _k: Kernels,
  model: Gpt2Model,
  dx: Float32Array,
  dout: Float32Array,
  x: Float32Array,
  saved: Buffers,
  N: number,
): void {
  const { weight, bias } = model.top.lnf;
  const C = model.config.hiddenSize;
  layerNormBackward(dx, weight.grad, bias.grad, dout, x, weight.data, saved.meanf!, saved.rstdf!, N, C);
}

/** One block: a.resid → out, saving what backward needs into `a`. Also backward's recompute (checkpointing). */
export function gpt2LayerForward(
  k: Kernels,
  model: Gpt2Model,
  w: Gpt2Layer,
  la: LayerActivations,
  out: Float32Array,
  input: ModelInput,
  dropout: DropoutSource,
): void {
  const c = model.config;
  const N = input.B * input.T;
  const C = c.hiddenSize;
  const eps = c.normEps;
  const a = la.saved as unknown as Saved;
  const lc = (name: string) => la.adapters.get(name) ?? null;
  layerNormForward(a.ln1, a.mean1, a.rstd1, la.resid, w.ln1.weight.data, w.ln1.bias.data, N, C, eps);
  linearForward(k, a.qkv, a.ln1, w.attn, N, lc(w.attn.name), dropout);
  splitQkv(a.q, a.k, a.v, a.qkv, N, C);
  k.attentionForward(a.att, a.lse, a.q, a.k, a.v, input.seg, input.B, input.T, c.numHeads, c.numHeads, c.headDim);
  linearForward(k, a.h, a.att, w.proj, N, lc(w.proj.name), dropout);
  k.addInPlace(a.h, la.resid, N * C);
  layerNormForward(a.ln2, a.mean2, a.rstd2, a.h, w.ln2.weight.data, w.ln2.bias.data, N, C, eps);
  linearForward(k, a.fc, a.ln2, w.fc, N, lc(w.fc.name), dropout);
  geluForward(a.act, a.fc, N * c.intermediateSize);
  linearForward(k, out, a.act, w.out, N, lc(w.out.name), dropout);
  k.addInPlace(out, a.h, N * C);
}

/**
 * On entry acts.dres = d(block output); on exit acts.dres = d(block input) (unless neither something below nor
 * ln_1 trains).
 */
export function gpt2LayerBackward(
  k: Kernels,
  model: Gpt2Model,
  w: Gpt2Layer,
  la: LayerActivations,
  acts: Activations,
  input: ModelInput,
  needInputGrad: boolean,
): void {
  const c = model.config;
  const N = input.B * input.T;
  const C = c.hiddenSize;
  const a = la.saved as unknown as Saved;
  const s = acts.scratch as unknown as Scratch;
  const { dres, dtmp, dxa } = acts;
  const lc = (name: string) => la.adapters.get(name) ?? null;

  // MLP: out = h + c_proj(gelu(c_fc(ln2))), ln2 = layernorm(h); leaves dres = d(h).
  linearBackward(k, s.dfc, dres, a.act, w.out, N, lc(w.out.name), dxa, false);
  geluBackward(s.dfc, s.dfc, a.fc, N * c.intermediateSize);
  linearBackward(k, s.dln, s.dfc, a.ln2, w.fc, N, lc(w.fc.name), dxa, false);
  layerNormBackward(dtmp, w.ln2.weight.grad, w.ln2.bias.grad, s.dln, a.h, w.ln2.weight.data, a.mean2, a.rstd2, N, C);
  k.addInPlace(dres, dtmp, N * C);

  // Attention: h = resid + c_proj(attn(q, k, v)), q | k | v = c_attn(ln1), ln1 = layernorm(resid).
  linearBackward(k, s.datt, dres, a.att, w.proj, N, lc(w.proj.name), dxa, false);
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
    c.numHeads,
    c.headDim,
  );
  joinQkv(s.dqkv, s.dq, s.dk, s.dv, N, C);
  // ln_1's weight and bias take their gradients from d(ln1), so they need the input-gradient path too.
  const needDln = needInputGrad || w.ln1.weight.grad !== null;
  linearBackward(k, needDln ? s.dln : null, s.dqkv, a.ln1, w.attn, N, lc(w.attn.name), dxa, false);
  if (!needDln) return;
  const { weight, bias } = w.ln1;
  layerNormBackward(dtmp, weight.grad, bias.grad, s.dln, la.resid, weight.data, a.mean1, a.rstd1, N, C);
  k.addInPlace(dres, dtmp, N * C); // dres = d(resid)
}

/** Inference work buffers (sizes in gpt2.ts inferenceBuffers()). */
interface Work {
  ln: Float32Array; // [n, C]
  mean: Float32Array; // [n]
  rstd: Float32Array; // [n]
  qkv: Float32Array; // [n, 3C]
  q: Float32Array; // [n, C] (keys and values go straight into the cache)
  att: Float32Array; // [n, C]
  h: Float32Array; // [n, C]
  fc: Float32Array; // [n, F]
}

/** One block over an inference chunk of n rows, appending its keys and values to the cache. */
export function gpt2InferenceStep(k: Kernels, model: Gpt2Model, w: Gpt2Layer, s: InferenceStep): void {
  const c = model.config;
  const C = c.hiddenSize;
  const eps = c.normEps;
  const { x, n, adapter } = s;
  const b = s.work as unknown as Work;
  layerNormForward(b.ln, b.mean, b.rstd, x, w.ln1.weight.data, w.ln1.bias.data, n, C, eps);
  linearInfer(k, b.qkv, b.ln, w.attn, n, adapter);
  splitQkv(b.q, s.kCache.subarray(s.past * C), s.vCache.subarray(s.past * C), b.qkv, n, C);
  k.attentionKV(b.att, b.q, s.kCache, s.vCache, n, s.past, c.numHeads, c.numHeads, c.headDim);
  linearInfer(k, b.h, b.att, w.proj, n, adapter);
  k.addInPlace(b.h, x, n * C);
  layerNormForward(b.ln, b.mean, b.rstd, b.h, w.ln2.weight.data, w.ln2.bias.data, n, C, eps);
  linearInfer(k, b.fc, b.ln, w.fc, n, adapter);
  geluForward(b.fc, b.fc, n * c.intermediateSize);
  linearInfer(k, x, b.fc, w.out, n, adapter);
  k.addInPlace(x, b.h, n * C);
}
