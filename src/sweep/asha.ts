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
 *
 * Promotion per value (`--promote-per rank`, groupedDecide below): plain ASHA ranks every trial against every other,
 * so with a few full-length slots the whole top rung can go to one rank, and a rank whose good rates learn slowly
 * early on (r=64 at a low rate) is never trained to the end. Asking "which rate suits each rank?" needs each rank to
 * keep a contender. So the trials are split by their value of the setting and each group is halved on its own:
 * once every trial of a group that will run a rung has reported there, its top floor(n/eta), at least one, go on.
 * Every value then reaches the last rung with its best trial, and the steps are known in advance (plannedSteps).
 * Groups are halved synchronously (a group's rung decides when it is complete), so the early finishers of a group
 * never take its slots before the rest have reported; other groups' trials keep the workers busy meanwhile.
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

/**
 * Promotion per value of a setting: the group (the setting's value) of every trial, and each group's size, the
 * number of its trials the sweep starts (its trial list is fixed: a list grid, or --trials draws).
 */
export interface Groups {
  /** groupOf[trial]: the trial's group. */
  groupOf: readonly string[];
  /** The trials of each group at rung 0, by group, in the order groups are first met. */
  sizes: ReadonlyMap<string, number>;
}

/** How many of a group's n0 trials run each rung: n0, then floor(n/eta) of the rung below, at least one. */
export function groupRungSizes(n0: number, rungs: number, eta: number): number[] {
  const out = [n0];
  while (out.length < rungs) out.push(Math.max(1, Math.floor(out.at(-1)! / eta)));
  return out;
}

/**
 * The total steps of a sweep promoted per value that runs to the end: each group's trials at every rung, times the
 * steps from the rung below. `rungSteps` are the rung budgets (the last is --steps).
 */
export function plannedSteps(sizes: Iterable<number>, rungSteps: readonly number[], eta: number): number {
  let total = 0;
  for (const n0 of sizes) {
    const n = groupRungSizes(n0, rungSteps.length, eta);
    for (let k = 0; k < rungSteps.length; k++) total += n[k]! * (rungSteps[k]! - (k > 0 ? rungSteps[k - 1]! : 0));
  }
  return total;
}

/**
 * ASHA's rule with promotion per value: from the top rung down, each group whose results at rung k are complete
 * (every trial it runs there has reported) offers its top groupRungSizes(..)[k + 1]; the best offered trial that has
 * no job at rung k + 1 yet is promoted. With no promotion, a new trial (when one may start).
 */
export function groupedDecide(v: AshaView, groups: Groups): AshaDecision {
  for (let k = v.rungs - 2; k >= 0; k--) {
    const offered: RungResult[] = [];
    for (const [group, n0] of groups.sizes) {
      const sizes = groupRungSizes(n0, v.rungs, v.eta);
      const here = rankResults(v.results.filter((r) => r.rung === k && groups.groupOf[r.trial] === group));
      if (here.length >= sizes[k]!) offered.push(...here.slice(0, sizes[k + 1]!));
    }
    const pick = rankResults(offered).find((r) => !v.scheduled.has(`${r.trial}@${k + 1}`) && !v.busy.has(r.trial));
    if (pick) return { kind: "promote", trial: pick.trial, rung: k + 1 };
  }
  return v.canStart ? { kind: "new" } : { kind: "none" };
}
