/**
 * The forward pass over a (B, T) batch, llm.c style: the family's embedding, its blocks (each writes into the
 * activation arena and saves what backward needs), its final norm, then the head and the loss in row chunks so
 * the full (N × V) logits never exist at once.
 */
import type { Kernels } from "../kernels/types.ts";
import { baseMatmulNN, baseMatmulNT, type Uniform } from "../nn/linear.ts";
import { softcapBackward, softcapForward } from "../nn/softcap.ts";
import type { Activations } from "./activations.ts";
import type { Model } from "./model.ts";

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
export function forward(k: Kernels, model: Model, acts: Activations, input: ModelInput, opt: ForwardOptions): number {
  const c = model.config;
  const f = model.family;
  const N = input.B * input.T;
  if (N > acts.N) throw new Error(`batch of ${input.B}×${input.T} tokens exceeds the activation arena (${acts.N})`);
  f.embedForward(k, model, acts.layers[0]!.resid, input.ids, input.pos, N);
  for (let l = 0; l < c.numLayers; l++) {
    const out = l + 1 < c.numLayers ? acts.layers[l + 1]!.resid : acts.final;
    f.layerForward(k, model, model.layers[l], acts.layers[l]!, out, input, opt.uniform);
  }
  f.finalForward(k, model, acts.lnf, acts.final, acts.top, N);
  return lossForward(k, model, acts, input, opt);
}

/** Logits and cross-entropy chunk by chunk; with gradScale > 0 also dlnf = dlogits·head (and the head's gradient). */
function lossForward(k: Kernels, model: Model, acts: Activations, input: ModelInput, opt: ForwardOptions): number {
  const c = model.config;
  const V = c.vocabSize;
  const C = c.hiddenSize;
  const N = input.B * input.T;
  const train = opt.gradScale > 0;
  const dHead = model.lmHead === model.embed ? model.dEmbed : model.dLmHead;
  const cap = model.family.logitSoftcap?.(c) ?? 0;
  // With a soft-cap, the capped logits of a chunk, for the cap's backward (crossEntropy overwrites the logits).
  const capped = cap > 0 && train ? new Float32Array(Math.min(acts.rowsPerChunk, N) * V) : null;
  let sum = 0;
  for (let start = 0; start < N; start += acts.rowsPerChunk) {
    const rows = Math.min(acts.rowsPerChunk, N - start);
    const logits = acts.logits.subarray(0, rows * V);
    const lnf = acts.lnf.subarray(start * C, (start + rows) * C);
    baseMatmulNT(k, logits, lnf, model.lmHead, rows, V, C, false);
    if (cap > 0) softcapForward(logits, rows * V, cap);
    capped?.set(logits);
    if (opt.logitsOut) opt.logitsOut.set(logits, start * V);
    const targets = input.targets.subarray(start, start + rows);
    const losses = acts.losses.subarray(start, start + rows);
    sum += k.crossEntropy(losses, train ? logits : null, logits, targets, rows, V, opt.gradScale);
    if (!train) continue;
    if (capped) softcapBackward(logits, capped, rows * V, cap);
    const dlnf = acts.dlnf.subarray(start * C, (start + rows) * C);
    baseMatmulNN(k, dlnf, logits, model.lmHead, rows, C, V, false);
    if (dHead) k.matmulTN(dHead, logits, lnf, V, C, rows, true);
  }
  return sum;
}
