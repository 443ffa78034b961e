/**
 * Llama forward pass over a (B, T) batch, llm.c style: every layer op writes into the activation arena and saves
 * what backward needs. The loss is computed in row chunks so the full (N × V) logits never exist at once.
 */
import type { Kernels } from "../kernels/types.ts";
import { baseMatmulNT, type DropoutSource, linearForward, type Uniform } from "../nn/linear.ts";
import type { Activations, LayerActivations } from "./activations.ts";
import type { LlamaLayer, LlamaModel } from "./llama.ts";

/** One batch of token rows, as the data pipeline produces it (layout [B*T] row-major). */
export interface ModelInput {
  B: number;
  T: number;
  ids: Int32Array; // [B*T]
  /** Next-token target of each position, -100 where no loss is taken. */
  targets: Int32Array; // [B*T]
  pos: Int32Array; // [B*T] position ids
  seg: Int32Array | null; // [B*T] packed-example ids, or null
}

export interface ForwardOptions {
  /** Uniform source for LoRA dropout (training); null disables dropout (evaluation). */
  uniform: Uniform | null;
  /** When set, (rows × V) logits of every chunk are copied here ([N, V]); for tests and small models only. */
  logitsOut?: Float32Array;
  /** When > 0, dlogits = (softmax − onehot)·gradScale are left in each chunk and dlnf is filled (training). */
  gradScale: number;
}

/** Runs the forward pass (and the loss gradient into acts.dlnf when gradScale > 0); returns Σ token losses. */
export function forward(
  k: Kernels,
  model: LlamaModel,
  acts: Activations,
  input: ModelInput,
  opt: ForwardOptions,
): number {
  const c = model.config;
  const N = input.B * input.T;
  if (N > acts.N) throw new Error(`batch of ${input.B}×${input.T} tokens exceeds the activation arena (${acts.N})`);
  if (model.embed.dtype === "f32")
    k.embeddingForward(acts.layers[0]!.resid, input.ids, model.embed.data as Float32Array, N, c.hiddenSize);
  else k.embeddingForwardBf16(acts.layers[0]!.resid, input.ids, model.embed.data as Uint16Array, N, c.hiddenSize);
  for (let l = 0; l < c.numLayers; l++) {
    const out = l + 1 < c.numLayers ? acts.layers[l + 1]!.resid : acts.final;
    layerForward(k, model, model.layers[l]!, acts.layers[l]!, out, input, opt.uniform);
  }
  k.rmsnormForward(acts.lnf, acts.rstdf, acts.final, model.norm.data, N, c.hiddenSize, c.rmsNormEps);
  return lossForward(k, model, acts, input, opt);
}

/** One layer: a.resid → out, saving what backward needs into `a`. Also backward's recompute (checkpointing). */
export function layerForward(
  k: Kernels,
  model: LlamaModel,
  w: LlamaLayer,
  a: LayerActivations,
  out: Float32Array,
  input: ModelInput,
  dropout: DropoutSource,
): void {
  const c = model.config;
  const N = input.B * input.T;
  const C = c.hiddenSize;
  k.rmsnormForward(a.ln1, a.rstd1, a.resid, w.inputNorm.data, N, C, c.rmsNormEps);
  const lc = (name: string) => a.lora.get(name) ?? null;
  linearForward(k, a.qPre ?? a.q, a.ln1, w.q, N, lc(w.q.name), dropout);
  linearForward(k, a.kPre ?? a.k, a.ln1, w.k, N, lc(w.k.name), dropout);
  linearForward(k, a.v, a.ln1, w.v, N, lc(w.v.name), dropout);
  if (w.qNorm && w.kNorm && a.qPre && a.kPre && a.qRstd && a.kRstd) {
    k.rmsnormForward(a.q, a.qRstd, a.qPre, w.qNorm.data, N * c.numHeads, c.headDim, c.rmsNormEps);
    k.rmsnormForward(a.k, a.kRstd, a.kPre, w.kNorm.data, N * c.numKvHeads, c.headDim, c.rmsNormEps);
  }
  k.ropeForward(a.q, input.pos, model.rope.cos, model.rope.sin, N, c.numHeads, c.headDim);
  k.ropeForward(a.k, input.pos, model.rope.cos, model.rope.sin, N, c.numKvHeads, c.headDim);
  k.attentionForward(a.att, a.lse, a.q, a.k, a.v, input.seg, input.B, input.T, c.numHeads, c.numKvHeads, c.headDim);
  linearForward(k, a.h, a.att, w.o, N, lc(w.o.name), dropout);
  k.addInPlace(a.h, a.resid, N * C);
  k.rmsnormForward(a.ln2, a.rstd2, a.h, w.postNorm.data, N, C, c.rmsNormEps);
  linearForward(k, a.gate, a.ln2, w.gate, N, lc(w.gate.name), dropout);
  linearForward(k, a.up, a.ln2, w.up, N, lc(w.up.name), dropout);
  k.swigluForward(a.act, a.gate, a.up, N * c.intermediateSize);
  linearForward(k, out, a.act, w.down, N, lc(w.down.name), dropout);
  k.addInPlace(out, a.h, N * C);
}

/** Logits and cross-entropy chunk by chunk; with gradScale > 0 also dlnf = dlogits·head (and the head's gradient). */
function lossForward(k: Kernels, model: LlamaModel, acts: Activations, input: ModelInput, opt: ForwardOptions): number {
  const c = model.config;
  const V = c.vocabSize;
  const C = c.hiddenSize;
  const N = input.B * input.T;
  const train = opt.gradScale > 0;
  const dHead = model.lmHead === model.embed ? model.dEmbed : model.dLmHead;
  let sum = 0;
  for (let start = 0; start < N; start += acts.rowsPerChunk) {
    const rows = Math.min(acts.rowsPerChunk, N - start);
    const logits = acts.logits.subarray(0, rows * V);
    const lnf = acts.lnf.subarray(start * C, (start + rows) * C);
    baseMatmulNT(k, logits, lnf, model.lmHead, rows, V, C, false);
    if (opt.logitsOut) opt.logitsOut.set(logits, start * V);
    const targets = input.targets.subarray(start, start + rows);
    const losses = acts.losses.subarray(start, start + rows);
    sum += k.crossEntropy(losses, train ? logits : null, logits, targets, rows, V, opt.gradScale);
    if (!train) continue;
    const dlnf = acts.dlnf.subarray(start * C, (start + rows) * C);
    if (model.lmHead.dtype === "f32") k.matmulNN(dlnf, logits, model.lmHead.data as Float32Array, rows, C, V, false);
    else k.matmulNNBf16(dlnf, logits, model.lmHead.data as Uint16Array, rows, C, V, false);
    if (dHead) k.matmulTN(dHead, logits, lnf, V, C, rows, true);
  }
  return sum;
}
