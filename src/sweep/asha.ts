/**
 * Successive halving as ASHA runs it (Li et al., "A System for Massively Parallel Hyperparameter Tuning", 2020):
 * trials start at the lowest rung's step budget; a trial is promoted to the next rung once it ranks in the top
 * 1/eta of the results recorded at its rung; a free worker takes the highest promotion available, else starts a
 * new trial. A trial that is never promoted is pruned, and keeps what it ran.
 *
 * Determinism: loratune makes decision i from the results of jobs 0..(i − lag) only, where lag is the sweep's
 * concurrency, widening that prefix (one finished job at a time, in job order) only when nothing can be decided.
 * So the decisions, and the trial table, never depend on which child happens to finish first; with a concurrency
 * of 1 this is ASHA exactly, with trials completing in order.
 */

/** A trial's result at a rung: lower `score` is better (the metric's sign fixed by the caller). */
export interface RungResult {
  trial: number;
  rung: number;
  /** The goal metric, oriented so lower is better (val loss, or −exact match). */
  score: number;
  /** Breaks ties of `score` (the validation loss). */
  tie: number;
}

/** Rung budgets: maxSteps / eta^k for k = rungs−1 … 0, rounded to multiples of `every` (at least `every`). */
export function rungSteps(maxSteps: number, minSteps: number, eta: number, every: number): number[] {
  const out: number[] = [maxSteps];
  for (let s = maxSteps / eta; s >= minSteps * (1 - 1e-9); s /= eta) {
    const rounded = Math.max(every, Math.round(s / every) * every);
    if (rounded < out[0]!) out.unshift(rounded);
  }
  return out;
}

/** Best first: by score, then tie, then trial index (so equal results order the same way every time). */
export function rankResults(results: readonly RungResult[]): RungResult[] {
  return [...results].sort((a, b) => a.score - b.score || a.tie - b.tie || a.trial - b.trial);
}

export type AshaDecision = { kind: "promote"; trial: number; rung: number } | { kind: "new" } | { kind: "none" };

export interface AshaView {
  /** Results known to the decision (the job prefix), every rung. */
  results: readonly RungResult[];
  /** Trials that already have a job at a rung (promoted there, or started there), as "trial@rung". */
  scheduled: ReadonlySet<string>;
  /** Trials whose latest job is not yet in the known results (they cannot be promoted now). */
  busy: ReadonlySet<number>;
  rungs: number;
  eta: number;
  /** Whether a new trial may still be started (trial cap and search space not exhausted). */
  canStart: boolean;
}

/**
 * ASHA's rule: from the top rung down, the best trial in the top floor(n/eta) of the n results at rung k that has
 * no job at rung k + 1 yet is promoted to k + 1; with no promotion, a new trial (when one may start).
 */
export function ashaDecide(v: AshaView): AshaDecision {
  for (let k = v.rungs - 2; k >= 0; k--) {
    const ranked = rankResults(v.results.filter((r) => r.rung === k));
    const top = ranked.slice(0, Math.floor(ranked.length / v.eta));
    const pick = top.find((r) => !v.scheduled.has(`${r.trial}@${k + 1}`) && !v.busy.has(r.trial));
    if (pick) return { kind: "promote", trial: pick.trial, rung: k + 1 };
  }
  return v.canStart ? { kind: "new" } : { kind: "none" };
}
