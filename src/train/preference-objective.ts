/**
 * Preference tuning as a trainer Objective (DPO, IPO, ORPO; the losses in preference-loss.ts).
 *
 * One micro-batch of P pairs is a Batch of 2P rows (chosen rows, then rejected; preference-batch.ts). Per
 * micro-batch:
 *  1. DPO/IPO: a forward pass of the same model with its adapter switched off (no second copy of the model)
 *     gives the reference log-probabilities; no gradients, no dropout.
 *  2. One training forward with gradScale 1 leaves each position's loss −log p(target) and the gradient of
 *     Σ token losses with respect to the final norm's output (dlnf) row by row.
 *  3. The pair losses give, per sequence, w = ∂L/∂(Σ completion log-probs); since the sequence's log-prob is
 *     −Σ its token losses, scaling its rows of dlnf by −w turns that gradient into ∂L/∂lnf exactly.
 *  4. backward from dlnf.
 * So a step costs one extra forward (DPO/IPO) over supervised training on the same tokens. Step 3 needs the
 * output head to be frozen (its gradient is taken inside the forward, before w is known): preference tuning
 * trains adapters (LoRA, DoRA), never --full. The step loss is the mean of the pair terms over the step's pairs
 * (plus, for ORPO, the chosen completions' NLL as a mean over their tokens in the step).
 */
import type { Batch } from "../data/batch.ts";
import type { PreferencePair } from "../data/preference.ts";
import { makePreferenceBatches, pairsIn, rowLogps } from "../data/preference-batch.ts";
import { LoratuneError } from "../errors.ts";
import type { Kernels } from "../kernels/types.ts";
import type { Activations } from "../model/activations.ts";
import { backward } from "../model/backward.ts";
import { forward } from "../model/forward.ts";
import type { Model } from "../model/model.ts";
import type { AdapterHooks, Uniform } from "../nn/linear.ts";
import type { BatchSettings, EvalResult, Objective, PreferenceMetrics, StepResult } from "./objective.ts";
import { needsReference, type PairTerms, type PreferenceSettings, pairTerms } from "./preference-loss.ts";

export class PreferenceObjective implements Objective {
  readonly rows: number;
  /** Step 3 needs every row's loss before any backward. */
  readonly wholeBatch = true;
  readonly valBatches: Batch[] | null;
  private cache: { epoch: number; batches: Batch[] } | null = null;

  constructor(
    private readonly pairs: PreferencePair[],
    val: PreferencePair[] | null,
    private readonly s: BatchSettings,
    readonly pref: PreferenceSettings,
    private readonly padId: number,
  ) {
    if (pairs.length === 0) throw new LoratuneError("ERR_DATA", "the training set has no preference pairs");
    this.rows = 2 * s.batchSize;
    this.valBatches =
      val && val.length > 0 ? makePreferenceBatches(val, { batchSize: s.batchSize, seqLen: s.seqLen, padId }) : null;
  }

  epochBatches(epoch: number): Batch[] {
    if (this.cache?.epoch !== epoch) {
      const { batchSize, seqLen, shuffle, seed } = this.s;
      const opts = { batchSize, seqLen, shuffle, seed: seed + epoch, padId: this.padId };
      this.cache = { epoch, batches: makePreferenceBatches(this.pairs, opts) };
    }
    return this.cache.batches;
  }

  step(k: Kernels, model: Model, acts: Activations, micro: Batch[], uniform: Uniform | null): StepResult {
    return preferenceStep(k, model, acts, micro, this.pref, uniform);
  }

  evaluate(k: Kernels, model: Model, acts: Activations, batches: Batch[]): EvalResult {
    return preferenceEvaluate(k, model, acts, batches, this.pref);
  }
}

/** One optimizer step's forward + backward over preference micro-batches (see the header); gradients accumulate. */
export function preferenceStep(
  k: Kernels,
  model: Model,
  acts: Activations,
  micro: Batch[],
  pref: PreferenceSettings,
  uniform: Uniform | null,
): StepResult {
  checkTrainable(model);
  const norm = stepNorms(pref, micro);
  const stats = new MetricsSum();
  let loss = 0;
  for (const b of micro) {
    const ref = needsReference(pref.method) ? referenceLogps(k, model, acts, b) : null;
    forward(k, model, acts, b, { uniform, gradScale: 1 });
    const terms = batchTerms(pref, b, rowLogps(b, acts.losses), ref);
    const P = pairsIn(b);
    const w = new Float64Array(b.B);
    terms.forEach((t, i) => {
      loss += t.loss / norm.pairs + t.nll / norm.nllTokens;
      w[i] = t.dChosen / norm.pairs - (pref.method === "orpo" ? 1 / norm.nllTokens : 0);
      w[P + i] = t.dRejected / norm.pairs;
      stats.add(t);
    });
    scaleRows(acts.dlnf, w, b.T, model.config.hiddenSize);
    backward(k, model, acts, b);
  }
  return { loss, preference: stats.means() };
}

/** The preference loss and pair metrics over held-out batches, without gradients. */
export function preferenceEvaluate(
  k: Kernels,
  model: Model,
  acts: Activations,
  batches: Batch[],
  pref: PreferenceSettings,
): EvalResult {
  const norm = stepNorms(pref, batches);
  const stats = new MetricsSum();
  let loss = 0;
  let tokens = 0;
  for (const b of batches) {
    const ref = needsReference(pref.method) ? referenceLogps(k, model, acts, b) : null;
    forward(k, model, acts, b, { uniform: null, gradScale: 0 });
    for (const t of batchTerms(pref, b, rowLogps(b, acts.losses), ref)) {
      loss += t.loss / norm.pairs + t.nll / norm.nllTokens;
      stats.add(t);
    }
    tokens += b.nLabelTokens;
  }
  return { loss, tokens, preference: stats.means() };
}

/** A pair's terms plus its ORPO NLL part (Σ −log p over the chosen completion; 0 for DPO/IPO). */
type PairResult = PairTerms & { nll: number };

/** The pairs of a step and (ORPO) the chosen completion tokens of the step: the means' denominators. */
function stepNorms(pref: PreferenceSettings, batches: Batch[]): { pairs: number; nllTokens: number } {
  let pairs = 0;
  let nllTokens = 0;
  for (const b of batches) {
    pairs += pairsIn(b);
    if (pref.method !== "orpo") continue;
    for (let t = 0; t < pairsIn(b) * b.T; t++) if (b.targets[t] !== -100) nllTokens++;
  }
  return { pairs, nllTokens: Math.max(1, nllTokens) };
}

/** Per pair of the batch: the loss terms from the policy's row log-probs (and the reference's). */
function batchTerms(
  pref: PreferenceSettings,
  b: Batch,
  policy: { logp: Float64Array; tokens: Int32Array },
  ref: Float64Array | null,
): PairResult[] {
  const P = pairsIn(b);
  const out: PairResult[] = [];
  for (let i = 0; i < P; i++) {
    const t = pairTerms(pref, {
      chosen: policy.logp[i]!,
      rejected: policy.logp[P + i]!,
      chosenTokens: policy.tokens[i]!,
      rejectedTokens: policy.tokens[P + i]!,
      refChosen: ref ? ref[i]! : 0,
      refRejected: ref ? ref[P + i]! : 0,
    });
    out.push({ ...t, nll: pref.method === "orpo" ? -policy.logp[i]! : 0 });
  }
  return out;
}

/** Each row's completion log-prob under the reference: the same model with every adapter switched off. */
export function referenceLogps(k: Kernels, model: Model, acts: Activations, b: Batch): Float64Array {
  withAdapterOff(model, () => forward(k, model, acts, b, { uniform: null, gradScale: 0 }));
  return rowLogps(b, acts.losses).logp;
}

/** Runs `fn` with every linear's adapter detached, then puts them back (also when `fn` throws). */
export function withAdapterOff<T>(model: Model, fn: () => T): T {
  const saved: (AdapterHooks | null)[] = model.linears.map((l) => l.adapter);
  for (const l of model.linears) l.adapter = null;
  try {
    return fn();
  } finally {
    model.linears.forEach((l, i) => {
      l.adapter = saved[i]!;
    });
  }
}

/** dlnf rows of sequence b (rows b·T … b·T+T−1, C values each) times −w[b]. */
function scaleRows(dlnf: Float32Array, w: Float64Array, T: number, C: number): void {
  for (let b = 0; b < w.length; b++) {
    const f = -w[b]!;
    const end = (b + 1) * T * C;
    for (let i = b * T * C; i < end; i++) dlnf[i] = dlnf[i]! * f;
  }
}

/**
 * Preference tuning takes the head's gradient inside the forward, before the pair weights are known, and its
 * reference is the model without its adapter: only adapter parameters may train.
 */
export function checkTrainable(model: Model): void {
  if (model.dEmbed !== null || model.dLmHead !== null) {
    throw new LoratuneError(
      "ERR_USAGE",
      "preference tuning (--method dpo|ipo|orpo) trains an adapter against the model without it; full fine-tuning " +
        "(--full) and trained embeddings or output head are not supported with it",
    );
  }
}

/** Running sums of the pair metrics; means() gives PreferenceMetrics. */
class MetricsSum {
  private n = 0;
  private acc = 0;
  private pref = 0;
  private cr = 0;
  private rr = 0;
  private cl = 0;
  private rl = 0;

  add(t: PairTerms): void {
    this.n++;
    if (t.chosenReward > t.rejectedReward) this.acc++;
    if (t.chosenLogp > t.rejectedLogp) this.pref++;
    this.cr += t.chosenReward;
    this.rr += t.rejectedReward;
    this.cl += t.chosenLogp;
    this.rl += t.rejectedLogp;
  }

  means(): PreferenceMetrics {
    const n = Math.max(1, this.n);
    return {
      rewardAccuracy: this.acc / n,
      rewardMargin: (this.cr - this.rr) / n,
      chosenReward: this.cr / n,
      rejectedReward: this.rr / n,
      chosenLogp: this.cl / n,
      rejectedLogp: this.rl / n,
      preferenceAccuracy: this.pref / n,
    };
  }
}
