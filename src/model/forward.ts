/**
 * The forward pass over a (B, T) batch, llm.c style: the family's embedding, its blocks (each writes into the
 * activation arena and saves what backward needs), its final norm, then the head and the loss in row chunks so
 * the full (N × V) logits never exist at once. Each block runs the batch in its sequence groups, one after another
 * (model/groups.ts), and the loss chunks never straddle two groups; each group's loss is summed on its own and the
 * group sums added in order, so a batch run group by group (model/loss.ts, checkpointing) gives the same bits.
 */
import type { Kernels } from "../kernels/types.ts";
import { baseMatmulNN, baseMatmulNT, type Uniform } from "../nn/linear.ts";
import { softcapBackward, softcapForward } from "../nn/softcap.ts";
import type { Activations } from "./activations.ts";
import { GroupViews, rowsOf, sequenceGroups, subInput } from "./groups.ts";
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
  const groups = [...sequenceGroups(input.B, acts.groupSeqs)];
  const views = groups.length > 1 ? new GroupViews(model, acts) : null;
  for (let l = 0; l < c.numLayers; l++) {
    const out = l + 1 < c.numLayers ? acts.layers[l + 1]!.resid : acts.final;
    if (!views) {
      f.layerForward(k, model, model.layers[l], acts.layers[l]!, out, input, opt.uniform);
      continue;
    }
    for (const [b0, nb] of groups) {
      const [r0, rows] = [b0 * input.T, nb * input.T];
      const la = views.layer(l, r0, rows);
      const sub = subInput(input, b0, nb);
      f.layerForward(k, model, model.layers[l], la, rowsOf(out, acts.N, r0, rows), sub, opt.uniform);
    }
  }
  f.finalForward(k, model, acts.lnf, acts.final, acts.top, N);
  let sum = 0;
  for (const [b0, nb] of groups) sum += lossForward(k, model, acts, input, opt, b0 * input.T, nb * input.T);
  return sum;
}

/**
 * Logits and cross-entropy of rows [r0, r0 + n) chunk by chunk; with gradScale > 0 also dlnf = dlogits·head (and
 * the head's gradient). Returns the rows' Σ token losses.
 */
function lossForward(
  k: Kernels,
  model: Model,
  acts: Activations,
  input: ModelInput,
  opt: ForwardOptions,
  r0: number,
  n: number,
): number {
  const c = model.config;
  const V = c.vocabSize;
  const C = c.hiddenSize;
  const end = r0 + n;
  const train = opt.gradScale > 0;
  const dHead = model.lmHead === model.embed ? model.dEmbed : model.dLmHead;
  const cap = model.family.logitSoftcap?.(c) ?? 0;
  // With a soft-cap, the capped logits of a chunk, for the cap's backward (crossEntropy overwrites the logits).
  const capped = cap > 0 && train ? new Float32Array(Math.min(acts.rowsPerChunk, n) * V) : null;
  let sum = 0;
  for (let start = r0; start < end; start += acts.rowsPerChunk) {
    const rows = Math.min(acts.rowsPerChunk, end - start);
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
