/**
 * Preference losses of one (chosen, rejected) pair, from sequence log-probabilities, with their derivatives with
 * respect to each sequence's summed completion log-probability (the only way the model enters them). Written from
 * the papers and TRL's documented behaviour (defaults as TRL's DPOConfig / ORPOConfig):
 *
 *  dpo   Rafailov et al. 2023, with cDPO label smoothing ε (TRL's loss_type "sigmoid"):
 *          z = β·((πc − πr) − (ρc − ρr)),  loss = −(1−ε)·log σ(z) − ε·log σ(−z)
 *        π = Σ completion-token log-probs under the policy (adapter on), ρ = the same under the reference
 *        (the base: adapter off). Rewards β(πc − ρc), β(πr − ρr).
 *  ipo   Azar et al. 2023 (TRL's loss_type "ipo"): the same log-ratios h = (πc − πr) − (ρc − ρr), but from
 *        log-probs averaged over each completion's tokens (as TRL does for IPO); loss = (h − 1/(2β))².
 *  orpo  Hong et al. 2024: no reference. a = average completion log-prob; log odds(y) = a − log(1 − e^a);
 *        lo = log odds(chosen) − log odds(rejected); the pair's term λ·(−log σ(lo)), plus (added by the caller,
 *        nllScale) the chosen completions' NLL, mean over their tokens. Rewards λ·a (TRL's ORPO metrics).
 *
 * Everything here is per pair and in f64; the caller averages over the pairs of an optimizer step.
 */

/** The methods `--method` accepts besides plain supervised fine-tuning ("sft"). */
export const PREFERENCE_METHODS = ["dpo", "ipo", "orpo"] as const;
export type PreferenceMethod = (typeof PREFERENCE_METHODS)[number];

/** `--method`: supervised fine-tuning or one of the preference methods. */
export const TRAIN_METHODS = ["sft", ...PREFERENCE_METHODS] as const;
export type TrainMethod = (typeof TRAIN_METHODS)[number];

export const isPreferenceMethod = (m: string): m is PreferenceMethod =>
  (PREFERENCE_METHODS as readonly string[]).includes(m);

/** TRL's documented defaults: DPOConfig beta 0.1, label_smoothing 0; ORPOConfig beta (the paper's λ) 0.1. */
export const PREFERENCE_DEFAULTS = { beta: 0.1, labelSmoothing: 0, orpoLambda: 0.1 } as const;

export interface PreferenceSettings {
  method: PreferenceMethod;
  /** DPO/IPO temperature β. */
  beta: number;
  /** cDPO: the assumed share ε of flipped labels (DPO only), in [0, 0.5). */
  labelSmoothing: number;
  /** ORPO: weight λ of the odds-ratio term against the chosen NLL. */
  orpoLambda: number;
}

/** One pair's sequence log-probabilities: sums over completion tokens, and those token counts. */
export interface PairLogps {
  chosen: number;
  rejected: number;
  chosenTokens: number;
  rejectedTokens: number;
  /** Under the reference (DPO, IPO); unused by ORPO. */
  refChosen: number;
  refRejected: number;
}

/** A pair's loss term, its derivatives by the summed log-probs (chosen, rejected), and what is logged. */
export interface PairTerms {
  loss: number;
  dChosen: number;
  dRejected: number;
  chosenReward: number;
  rejectedReward: number;
  /** The log-probs the loss used: sums (DPO) or per-token averages (IPO, ORPO). */
  chosenLogp: number;
  rejectedLogp: number;
}

/** log σ(x), stable for either sign. */
export function logSigmoid(x: number): number {
  return x >= 0 ? -Math.log1p(Math.exp(-x)) : x - Math.log1p(Math.exp(x));
}

export function sigmoid(x: number): number {
  return x >= 0 ? 1 / (1 + Math.exp(-x)) : Math.exp(x) / (1 + Math.exp(x));
}

/** log(1 − e^a) for a < 0, accurate near 0 and for very negative a. */
export function log1mExp(a: number): number {
  return a > -Math.LN2 ? Math.log(-Math.expm1(a)) : Math.log1p(-Math.exp(a));
}

export function pairTerms(s: PreferenceSettings, p: PairLogps): PairTerms {
  switch (s.method) {
    case "dpo":
      return dpoTerms(s, p);
    case "ipo":
      return ipoTerms(s, p);
    case "orpo":
      return orpoTerms(s, p);
  }
}

function dpoTerms(s: PreferenceSettings, p: PairLogps): PairTerms {
  const eps = s.labelSmoothing;
  const z = s.beta * (p.chosen - p.rejected - (p.refChosen - p.refRejected));
  const loss = -(1 - eps) * logSigmoid(z) - eps * logSigmoid(-z);
  const dz = -(1 - eps) * sigmoid(-z) + eps * sigmoid(z);
  return {
    loss,
    dChosen: s.beta * dz,
    dRejected: -s.beta * dz,
    chosenReward: s.beta * (p.chosen - p.refChosen),
    rejectedReward: s.beta * (p.rejected - p.refRejected),
    chosenLogp: p.chosen,
    rejectedLogp: p.rejected,
  };
}

function ipoTerms(s: PreferenceSettings, p: PairLogps): PairTerms {
  const nc = Math.max(1, p.chosenTokens);
  const nr = Math.max(1, p.rejectedTokens);
  const [c, r, rc, rr] = [p.chosen / nc, p.rejected / nr, p.refChosen / nc, p.refRejected / nr];
  const d = c - r - (rc - rr) - 1 / (2 * s.beta);
  return {
    loss: d * d,
    dChosen: (2 * d) / nc,
    dRejected: (-2 * d) / nr,
    chosenReward: s.beta * (c - rc),
    rejectedReward: s.beta * (r - rr),
    chosenLogp: c,
    rejectedLogp: r,
  };
}

function orpoTerms(s: PreferenceSettings, p: PairLogps): PairTerms {
  const nc = Math.max(1, p.chosenTokens);
  const nr = Math.max(1, p.rejectedTokens);
  const c = p.chosen / nc;
  const r = p.rejected / nr;
  const logOdds = c - log1mExp(c) - (r - log1mExp(r));
  // d/da (a − log(1 − e^a)) = 1 / (1 − e^a) = −1 / expm1(a); d(−log σ(x))/dx = −σ(−x).
  const dLogOdds = -s.orpoLambda * sigmoid(-logOdds);
  return {
    loss: -s.orpoLambda * logSigmoid(logOdds),
    dChosen: (dLogOdds * (-1 / Math.expm1(c))) / nc,
    dRejected: (dLogOdds * (1 / Math.expm1(r))) / nr,
    chosenReward: s.orpoLambda * c,
    rejectedReward: s.orpoLambda * r,
    chosenLogp: c,
    rejectedLogp: r,
  };
}

/** Whether the method compares against the reference model (the base, adapter off). */
export function needsReference(method: PreferenceMethod): boolean {
  return method !== "orpo";
}
