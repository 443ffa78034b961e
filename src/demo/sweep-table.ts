/**
 * The rank × learning-rate table of `demo --sweep`: one row per learning rate, one column per rank, each cell the
 * trial with those settings (its held-out exact match at the furthest step it trained, and those steps; "–" for a
 * pair the sweep did not start, or whose trial failed), and the best rank at that learning rate.
 *
 * The best rank of a row compares its trials as the sweep report does (report-data.ts, EFFECTS_RULE): in pairs at
 * the highest rung both reached, so at equal steps, on exact match and then validation loss. The row's best is the
 * trial that wins the most of those comparisons (ties: the one trained further, then the lower rank).
 */
import { pairOutcome, resultsByRung } from "../sweep/report-data.ts";
import type { SweepState, Trial } from "../sweep/state.ts";

export interface RankLrCell {
  trial: string;
  exactMatch: number;
  steps: number;
}

export interface RankLrTable {
  ranks: number[];
  lrs: number[];
  /** cells[i][j]: learning rate lrs[i], rank ranks[j]. */
  cells: (RankLrCell | null)[][];
  /** The best rank at each learning rate (null: no trial there). */
  bestRank: (number | null)[];
}

/** The table from a finished (or stopped) sweep over rank and lr lists. */
export function rankLrTable(state: SweepState, ranks: readonly number[], lrs: readonly number[]): RankLrTable {
  const byRung = resultsByRung(state);
  const trialAt = (lr: number, rank: number) =>
    state.trials.find((t) => t.config.rank === rank && t.config.lr === lr && byRung.has(t.id));
  const cells = lrs.map((lr) => ranks.map((rank) => cellOf(state, trialAt(lr, rank))));
  const bestRank = lrs.map((lr) => {
    const row = ranks.map((rank) => trialAt(lr, rank)).filter((t): t is Trial => t !== undefined);
    const wins = (t: Trial) =>
      row.reduce((n, u) => n + (u === t ? 0 : (pairOutcome(byRung.get(t.id)!, byRung.get(u.id)!) ?? 0)), 0);
    const reached = (t: Trial) => byRung.get(t.id)!.length;
    const best = [...row].sort((a, b) => wins(b) - wins(a) || reached(b) - reached(a))[0];
    return best ? Number(best.config.rank) : null;
  });
  return { ranks: [...ranks], lrs: [...lrs], cells, bestRank };
}

/** The trial's exact match at its furthest finished job. */
function cellOf(state: SweepState, t: Trial | undefined): RankLrCell | null {
  if (!t) return null;
  const last = state.jobs.filter((j) => j.trial === t.id && j.status === "done").at(-1)!;
  return { trial: t.name, exactMatch: last.result?.exactMatch ?? 0, steps: last.toStep };
}

/** A rank's best trial: the learning rate, its exact match and the steps it trained. */
export interface RankBest {
  rank: number;
  lr: number;
  trial: string;
  exactMatch: number;
  steps: number;
}

/**
 * Each rank's best trial: of its trials, the one that reached the highest rung, the best there (goal metric, then
 * validation loss, as ASHA ranks them). With promotion per rank that is the rank's one full-length contender.
 */
export function rankBests(state: SweepState, ranks: readonly number[]): RankBest[] {
  const byRung = resultsByRung(state);
  const out: RankBest[] = [];
  for (const rank of ranks) {
    const ranked = state.trials
      .filter((t) => t.config.rank === rank && byRung.has(t.id))
      .map((t) => ({ t, rungs: byRung.get(t.id)! }))
      .sort((a, b) => {
        const x = a.rungs.at(-1)!;
        const y = b.rungs.at(-1)!;
        return b.rungs.length - a.rungs.length || x.score - y.score || x.tie - y.tie || a.t.id - b.t.id;
      });
    const best = ranked[0];
    if (!best) continue;
    const cell = cellOf(state, best.t)!;
    out.push({
      rank,
      lr: Number(best.t.config.lr),
      trial: best.t.name,
      exactMatch: cell.exactMatch,
      steps: cell.steps,
    });
  }
  return out;
}

/** "r=4: lr 0.003, 98% (3000 steps)" for each rank. */
export const rankBestsText = (bests: readonly RankBest[]) =>
  bests.map((b) => `r=${b.rank}: lr ${b.lr}, ${(100 * b.exactMatch).toFixed(0)}% (${b.steps} steps)`).join("; ");

/** How the best rank of a row is chosen, as the demo prints it. */
export const BEST_RANK_RULE =
  "A cell: the trial's exact match at the furthest step it trained (ASHA stops the weaker trials early). " +
  "Best rank: the trial that wins the most comparisons with the row's other trials at equal steps (the highest rung both reached).";

const cellText = (c: RankLrCell | null) => (c ? `${(100 * c.exactMatch).toFixed(0)}% (${c.steps})` : "–");

/** The table as Markdown (printed by the demo and pasted in the README). */
export function rankLrMarkdown(t: RankLrTable): string {
  const head = ["lr", ...t.ranks.map((r) => `r=${r}`), "best rank"];
  const rows = t.lrs.map((lr, i) => [
    String(lr),
    ...t.cells[i]!.map(cellText),
    t.bestRank[i] === null ? "–" : `r=${t.bestRank[i]}`,
  ]);
  return [head, head.map(() => "---"), ...rows].map((r) => `| ${r.join(" | ")} |`).join("\n");
}
