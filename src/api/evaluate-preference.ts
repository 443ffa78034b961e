/**
 * `evaluate()` with a preference method (`loratune eval --method dpo|ipo|orpo`): the data are preference pairs,
 * and the result is the preference loss with the held-out pair metrics (reward accuracy, margins, rewards,
 * log-probs, and the model's own preference accuracy) of the model with its adapter against the model without it,
 * computed as the trainer's evaluations compute them (train/preference-objective.ts).
 */

import { readPreferenceDataset } from "../data/preference.ts";
import { makePreferenceBatches } from "../data/preference-batch.ts";
import { LoratuneError } from "../errors.ts";
import { getKernels } from "../kernels/index.ts";
import { allocateActivations } from "../model/activations.ts";
import type { Model } from "../model/model.ts";
import type { Tokenizer } from "../tokenizer/tokenizer.ts";
import type { PreferenceMetrics } from "../train/objective.ts";
import type { PreferenceSettings } from "../train/preference-loss.ts";
import { preferenceEvaluate } from "../train/preference-objective.ts";

export interface PreferenceEvalInput {
  data: string;
  model: Model;
  tokenizer: Tokenizer | null;
  /** Pairs per batch. */
  batchSize: number;
  seqLen: number;
  pref: PreferenceSettings;
  onProgress?: (p: { done: number; batches: number; tokens: number; totalTokens: number }) => void;
  signal?: AbortSignal;
}

/** The preference loss and held-out pair metrics of `data`; perplexity is NaN (not a token loss). */

export function evaluatePreferencePairs(i: PreferenceEvalInput): {
  loss: number;
  perplexity: number;
  tokens: number;
  preference: PreferenceMetrics;
} {
  if (!i.tokenizer) {
    throw new LoratuneError("ERR_DATA", `--method ${i.pref.method} reads text preference rows and needs a tokenizer`);
  }
  const pairs = readPreferenceDataset(i.data.split(","), i.tokenizer, { seqLen: i.seqLen }).pairs;
  const padId = i.tokenizer.pad?.id ?? 0;
  const batches = makePreferenceBatches(pairs, { batchSize: i.batchSize, seqLen: i.seqLen, padId });
  const longest = Math.max(...batches.map((b) => b.T));
  const acts = allocateActivations(i.model, 2 * i.batchSize, longest, { withGrad: false });
  const totalTokens = batches.reduce((n, b) => n + b.nLabelTokens, 0);
  i.onProgress?.({ done: 0, batches: batches.length, tokens: 0, totalTokens });
  // One pass over every pair (means over all pairs, as the trainer's evaluations); progress at its ends.
  const all = preferenceEvaluate(getKernels(), i.model, acts, batches, i.pref);
  i.onProgress?.({ done: batches.length, batches: batches.length, tokens: totalTokens, totalTokens });
  i.signal?.throwIfAborted();
  return { loss: all.loss, perplexity: Number.NaN, tokens: all.tokens, preference: all.preference! };
}
