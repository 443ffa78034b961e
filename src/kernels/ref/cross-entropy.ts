/**
 * Reference softmax cross-entropy over rows of logits[N,V], numerically stable (max subtracted, f64 sums):
 *   loss_n = log Σ_j e^{l_j} − l_target,   dlogits_n = (softmax(l) − onehot(target)) · gradScale.
 * Target −100 marks an ignored row: loss 0 and (when requested) an all-zero gradient row.
 */
import { LoratuneError } from "../../errors.ts";

export const IGNORE_INDEX = -100;

/** Fills losses[N] (and dlogits[N,V] unless null; it may alias logits); returns Σ losses in f64. */
export function crossEntropy(
  losses: Float32Array,
  dlogits: Float32Array | null,
  logits: Float32Array,
  targets: Int32Array,
  N: number,
  V: number,
  gradScale: number,
): number {
  let total = 0;
  for (let n = 0; n < N; n++) {
    const o = n * V;
    const target = targets[n]!;
    if (target === IGNORE_INDEX) {
      losses[n] = 0;
      if (dlogits !== null) dlogits.fill(0, o, o + V);
      continue;
    }
    if (target < 0 || target >= V) {
      throw new LoratuneError(
        "ERR_DATA",
        `crossEntropy: target ${target} at row ${n} is outside the vocabulary [0, ${V}) and is not -100`,
      );
    }
    let max = Number.NEGATIVE_INFINITY;
    for (let j = 0; j < V; j++) if (logits[o + j]! > max) max = logits[o + j]!;
    let sum = 0;
    for (let j = 0; j < V; j++) sum += Math.exp(logits[o + j]! - max);
    const lse = max + Math.log(sum);
    const loss = lse - logits[o + target]!; // read before dlogits (maybe aliasing logits) is written
    losses[n] = loss;
    total += loss;
    if (dlogits !== null) {
      for (let j = 0; j < V; j++) dlogits[o + j] = Math.exp(logits[o + j]! - lse) * gradScale;
      dlogits[o + target] = dlogits[o + target]! - gradScale;
    }
  }
  return total;
}
