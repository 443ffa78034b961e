/**
 * What the trainer optimizes: where an epoch's micro-batches come from, the forward/backward of one optimizer
 * step over them, and the evaluation on held-out batches. Supervised fine-tuning (this file) takes the mean loss
 * over every label token of the step; preference tuning (preference-objective.ts) a pairwise loss.
 */
import { type Batch, makeBatches } from "../data/batch.ts";
import type { Example } from "../data/encode.ts";
import { LoratuneError } from "../errors.ts";
import type { Kernels } from "../kernels/types.ts";
import type { Activations } from "../model/activations.ts";
import { evalLossSum, lossAndGrad } from "../model/loss.ts";
import type { Model } from "../model/model.ts";
import type { Uniform } from "../nn/linear.ts";

/** Means over the pairs of a step or an evaluation (preference tuning only); see preference-objective.ts. */
export interface PreferenceMetrics {
  /** Share of pairs whose chosen reward exceeds the rejected one (TRL's rewards/accuracies). */
  rewardAccuracy: number;
  /** Mean of chosen − rejected reward (rewards/margins). */
  rewardMargin: number;
  chosenReward: number;
  rejectedReward: number;
  /** Mean completion log-probability under the policy: sums (DPO) or per-token averages (IPO, ORPO). */
  chosenLogp: number;
  rejectedLogp: number;
  /** Share of pairs where the policy itself gives the chosen completion the higher log-probability. */
  preferenceAccuracy: number;
}

export interface StepResult {
  loss: number;
  preference?: PreferenceMetrics;
}

export interface EvalResult {
  loss: number;
  /** Label tokens scored. */
  tokens: number;
  preference?: PreferenceMetrics;
}

export interface Objective {
  /** Rows (sequences) of the largest micro-batch: the activation arena is sized for rows × seqLen. */
  readonly rows: number;
  /**
   * Whether step() runs forward over a whole micro-batch before its backward (not through lossAndGrad): then the
   * arena holds the whole micro-batch even with checkpointing (ArenaOptions.wholeBatch).
   */
  readonly wholeBatch?: boolean;
  /** The micro-batches of one pass over the training data (deterministic given the epoch). */
  epochBatches(epoch: number): Batch[];
  /** Held-out batches, or null without validation data. */
  readonly valBatches: Batch[] | null;
  /** Forward + backward of one optimizer step: gradients accumulate into the trainable parameters. */
  step(k: Kernels, model: Model, acts: Activations, micro: Batch[], uniform: Uniform | null): StepResult;
  /** The objective on held-out batches, without gradients. */
  evaluate(k: Kernels, model: Model, acts: Activations, batches: Batch[]): EvalResult;
}

/** What the supervised objective batches by (a subset of TrainSettings). */
export interface BatchSettings {
  batchSize: number;
  seqLen: number;
  pack: boolean;
  shuffle: boolean;
  seed: number;
}

/** Supervised fine-tuning: the mean loss over all label tokens of a step's micro-batches. */
export class SftObjective implements Objective {
  readonly rows: number;
  readonly valBatches: Batch[] | null;
  private cache: { epoch: number; batches: Batch[] } | null = null;

  constructor(
    private readonly examples: Example[],
    val: Example[] | null,
    private readonly s: BatchSettings,
    private readonly padId: number,
  ) {
    if (examples.length === 0) throw new LoratuneError("ERR_DATA", "the training set is empty");
    this.rows = s.batchSize;
    this.valBatches =
      val && val.length > 0 ? makeBatches(val, { batchSize: s.batchSize, seqLen: s.seqLen, padId }) : null;
  }

  epochBatches(epoch: number): Batch[] {
    if (this.cache?.epoch !== epoch) {
      const { batchSize, seqLen, pack, shuffle, seed } = this.s;
      const opts = { batchSize, seqLen, pack, shuffle, seed: seed + epoch, padId: this.padId };
      this.cache = { epoch, batches: makeBatches(this.examples, opts) };
    }
    return this.cache.batches;
  }

  step(k: Kernels, model: Model, acts: Activations, micro: Batch[], uniform: Uniform | null): StepResult {
    const labelTokens = micro.reduce((n, b) => n + b.nLabelTokens, 0);
    let lossSum = 0;
    for (const b of micro) {
      if (b.nLabelTokens > 0) lossSum += lossAndGrad(k, model, acts, b, 1 / labelTokens, uniform);
    }
    return { loss: labelTokens > 0 ? lossSum / labelTokens : 0 };
  }

  evaluate(k: Kernels, model: Model, acts: Activations, batches: Batch[]): EvalResult {
    return evaluateBatches(k, model, acts, batches);
  }
}

/** Mean loss over all label tokens of the batches (no gradients). */
export function evaluateBatches(
  k: Kernels,
  model: Model,
  acts: Activations,
  batches: Batch[],
): { loss: number; tokens: number } {
  let sum = 0;
  let tokens = 0;
  for (const b of batches) {
    if (b.nLabelTokens === 0) continue;
    sum += evalLossSum(k, model, acts, b);
    tokens += b.nLabelTokens;
  }
  return { loss: tokens > 0 ? sum / tokens : Number.NaN, tokens };
}
