/**
 * Batches of preference pairs. A batch of P pairs is an ordinary Batch of B = 2P rows: rows 0..P−1 are the chosen
 * sequences and rows P..2P−1 the rejected ones of the same pairs, in the same order (TRL's concatenated forward),
 * padded to the longest row. Targets are -100 on prompts and padding (see batch.ts), so a row's summed token
 * log-probabilities over its targets are its completion's log-probability.
 */
import { Rng, shuffleInPlace } from "../tensor/rng.ts";
import { type Batch, collate } from "./batch.ts";
import type { Example } from "./encode.ts";
import type { PreferencePair } from "./preference.ts";

export interface PreferenceBatchOptions {
  /** Pairs per batch. */
  batchSize: number;
  seqLen: number;
  shuffle?: boolean;
  seed?: number;
  padId?: number;
}

/** The batch's pair count: half its rows. */
export const pairsIn = (b: Batch) => b.B / 2;

/** All batches of one pass over `pairs` (shuffled by pair when asked, deterministic given the seed). */
export function makePreferenceBatches(pairs: PreferencePair[], opts: PreferenceBatchOptions): Batch[] {
  const order = pairs.map((_, i) => i);
  if (opts.shuffle) shuffleInPlace(order, new Rng(opts.seed ?? 0));
  const batches: Batch[] = [];
  for (let i = 0; i < order.length; i += opts.batchSize) {
    const group = order.slice(i, i + opts.batchSize).map((j) => pairs[j] as PreferencePair);
    const examples: Example[] = [...group.map((p) => p.chosen), ...group.map((p) => p.rejected)];
    const rows = examples.map((_, r) => [r]);
    batches.push(collate(examples, rows, { batchSize: examples.length, seqLen: opts.seqLen, padId: opts.padId ?? 0 }));
  }
  return batches;
}

/**
 * Per row of a batch: Σ log p(target) over its target positions and how many there are, from the per-position
 * losses (−log p) a forward pass left in `losses` ([B*T], 0 where the target is -100).
 */
export function rowLogps(batch: Batch, losses: Float32Array): { logp: Float64Array; tokens: Int32Array } {
  const { B, T } = batch;
  const logp = new Float64Array(B);
  const tokens = new Int32Array(B);
  for (let b = 0; b < B; b++) {
    let s = 0;
    let n = 0;
    for (let t = b * T; t < (b + 1) * T; t++) {
      if (batch.targets[t] === -100) continue;
      s -= losses[t] as number;
      n++;
    }
    logp[b] = s;
    tokens[b] = n;
  }
  return { logp, tokens };
}
