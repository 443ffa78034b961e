/**
 * The sweep's data, as report.html shows it and `sweep --json` prints it: one row per trial (its settings, the
 * furthest rung it reached and the goal metric there, tokens/s, peak memory, trainable parameters, adapter size,
 * status), every trial's validation curve, a rank × learning-rate heat map, each setting's marginal effect, and a
 * recommendation with the best trial's command line.
 *
 * Comparisons: the best trial is the best at the highest rung any trial reached (asha), or over all trials, on the
 * goal metric and then the validation loss. A setting's marginal effect compares trials in pairs at the highest rung
 * both reached (EFFECTS_RULE below; a range is split into three log- or equal-width bins); the spread between its
 * best and worst value says how much it mattered.
 */
import { join } from "node:path";
import { camelKey } from "../api/options.ts";
import { TRAIN_OPTIONS } from "../api/train-options.ts";
import { readMetrics } from "../report/metrics.ts";
import type { SweepReportData, TrialRow } from "../report/sweep-report.ts";
import { jobScore } from "./scheduler.ts";
import { parseSpace, resolveConfig, SPACE_KEYS, type SpaceValue } from "./space.ts";
import type { Job, SweepState, Trial } from "./state.ts";
import { trialDir } from "./state.ts";
import { trialOptions } from "./sweep.ts";

export type { SweepReportData };

/** The goal metric as shown: exact match as a share, or the validation loss. */
const shown = (job: Job, metric: string) =>
  metric === "exact-match" ? (job.result?.exactMatch ?? 0) : (job.result?.valLoss ?? Number.NaN);

export function sweepReportData(dir: string, state: SweepState): SweepReportData {
  const s = state.settings;
  const rows = state.trials.map((t) => trialRow(state, t));
  const best = bestTrial(state);
  return {
    title: `loratune sweep: ${dir}`,
    strategy: s.strategy,
    metric: s.metric,
    status: state.status,
    space: s.space,
    rungs: s.rungs,
    promotePer: s.promotePer ?? null,
    budget: s.budget,
    stepsUsed: state.jobs.reduce((n, j) => n + (j.status === "done" ? j.toStep - j.fromStep : 0), 0),
    elapsedS: state.elapsedS ?? 0,
    timeBudgetMin: s.timeBudgetMin ?? 0,
    trials: rows,
    curves: state.trials.map((t) => ({ trial: t.name, ...curve(dir, t, s.metric) })),
    heatmap: heatmap(rows, s.metric),
    effects: marginalEffects(state),
    effectsRule: EFFECTS_RULE,
    recommendation: recommend(dir, state, best),
  };
}

function trialRow(state: SweepState, t: Trial): TrialRow {
  const jobs = state.jobs.filter((j) => j.trial === t.id);
  const done = jobs.filter((j) => j.status === "done");
  const last = done.at(-1);
  const maxRung = state.settings.rungs.length - 1;
  const status = jobs.some((j) => j.status === "pending")
    ? "unfinished"
    : jobs.some((j) => j.status === "failed")
      ? "failed"
      : last?.rung === maxRung
        ? "completed"
        : "pruned";
  const config = resolveConfig(t.config, Number(state.settings.train.rank ?? 8));
  return {
    trial: t.name,
    settings: Object.fromEntries(SPACE_KEYS.filter((k) => config[k] !== undefined).map((k) => [k, config[k]!])),
    steps: last?.toStep ?? 0,
    metric: last ? shown(last, state.settings.metric) : Number.NaN,
    valLoss: last?.result?.valLoss ?? Number.NaN,
    exactMatch: last?.result?.exactMatch ?? null,
    tokensPerS: last?.result?.tokensPerS ?? 0,
    peakRssMb: Math.max(0, ...done.map((j) => j.result!.peakRssMb)),
    trainableParams: last?.result?.trainableParams ?? 0,
    adapterBytes: last?.result?.adapterBytes ?? 0,
    status,
  };
}

/** A trial's validation curve (the goal metric at every evaluation). */
function curve(dir: string, t: Trial, metric: string): { steps: number[]; values: number[] } {
  try {
    const evals = readMetrics(join(trialDir(dir, t), "metrics.jsonl")).filter((r) => r.type === "eval");
    const byStep = new Map<number, number>();
    for (const r of evals) byStep.set(r.step, (metric === "exact-match" ? r.exact_match : r.val_loss) ?? Number.NaN);
    const steps = [...byStep.keys()].sort((a, b) => a - b);
    return { steps, values: steps.map((x) => byStep.get(x)!) };
  } catch {
    return { steps: [], values: [] };
  }
}

/** The best trial at the highest rung reached (ties: validation loss, then trial order), or null. */
export function bestTrial(state: SweepState): Trial | null {
  const done = state.jobs.filter((j) => j.status === "done" && j.result);
  if (done.length === 0) return null;
  const top = Math.max(...done.map((j) => j.rung));
  const ranked = done
    .filter((j) => j.rung === top)
    .map((j) => ({ j, ...jobScore(j.result!, state.settings.metric) }))
    .sort((a, b) => a.score - b.score || a.tie - b.tie || a.j.trial - b.j.trial);
  return state.trials[ranked[0]!.j.trial]!;
}

/** Rank × learning-rate cells (learning rates in three bins when they were drawn from a range): the best metric. */
function heatmap(rows: TrialRow[], metric: string): SweepReportData["heatmap"] {
  const ranks = [...new Set(rows.map((r) => r.settings.rank).filter((v) => v !== undefined))].sort(
    (a, b) => Number(a) - Number(b),
  );
  const lrs = rows.map((r) => Number(r.settings.lr)).filter(Number.isFinite);
  if (ranks.length === 0 || lrs.length === 0) return null;
  const bins = binsOf(lrs, true);
  const better = (a: number, b: number) => (metric === "exact-match" ? a > b : a < b);
  const cells: (number | null)[][] = ranks.map(() => bins.map(() => null));
  for (const r of rows) {
    if (!Number.isFinite(r.metric)) continue;
    const i = ranks.indexOf(r.settings.rank as number | string);
    const j = bins.findIndex((b) => Number(r.settings.lr) >= b.lo && Number(r.settings.lr) <= b.hi);
    if (i < 0 || j < 0) continue;
    const cur = cells[i]![j];
    if (cur === null || cur === undefined || better(r.metric, cur)) cells[i]![j] = r.metric;
  }
  return { rows: ranks.map(String), columns: bins.map((b) => b.label), cells };
}

interface Bin {
  lo: number;
  hi: number;
  label: string;
}

/** The distinct values as their own bins when few, else three bins (log-width for learning rates). */
function binsOf(values: number[], log: boolean): Bin[] {
  const distinct = [...new Set(values)].sort((a, b) => a - b);
  if (distinct.length <= 4) return distinct.map((v) => ({ lo: v, hi: v, label: String(v) }));
  const f = log ? Math.log : (x: number) => x;
  const g = log ? Math.exp : (x: number) => x;
  const lo = f(distinct[0]!);
  const hi = f(distinct.at(-1)!);
  const edges = [0, 1, 2, 3].map((k) => g(lo + ((hi - lo) * k) / 3));
  const text = (x: number) => String(Number(x.toPrecision(2)));
  return [0, 1, 2].map((k) => ({
    lo: k === 0 ? Number.NEGATIVE_INFINITY : edges[k]!,
    hi: k === 2 ? Number.POSITIVE_INFINITY : edges[k + 1]!,
    label: `${text(edges[k]!)}–${text(edges[k + 1]!)}`,
  }));
}

/**
 * How the marginal effects are read, as the report states it. Comparing means at the first rung fails when the goal
 * metric has no spread there (exact match is often 0 for every trial after a few steps), and comparing each
 * trial's metric at the furthest step it reached mixes step counts (an ASHA survivor trained 9× longer). So trials
 * are compared in pairs, each pair at the highest rung both reached (the same number of steps), on the goal metric
 * and, where it ties, on the validation loss — the order ASHA promotes by. A setting's value scores the share of
 * its trials' comparisons with trials that have another value of the setting that they win (ties count half): 50%
 * is no effect, and its spread is the gap between its best and worst value. This is the common-language effect
 * size (the Mann–Whitney U statistic over the pairs), which needs neither a shared rung nor a metric with spread.
 */
export const EFFECTS_RULE =
  "Trials are compared in pairs at the highest rung both reached (the same steps), on the goal metric and, where it ties, on the validation loss. " +
  "Each value of a setting shows the share of comparisons with trials that have another value that its trials win (ties count half; 50% = no effect), " +
  "with its number of trials in brackets; settings are ordered by the spread between their best and worst value.";

/** Each trial's done results by rung (index = rung), as ASHA's ordering keys (lower is better). */
export function resultsByRung(state: SweepState): Map<number, { score: number; tie: number }[]> {
  const out = new Map<number, { score: number; tie: number }[]>();
  for (const j of state.jobs) {
    if (j.status !== "done" || !j.result) continue;
    const rungs = out.get(j.trial) ?? [];
    rungs[j.rung] = jobScore(j.result, state.settings.metric);
    out.set(j.trial, rungs);
  }
  return out;
}

/** 1 when trial a beats b at the highest rung both reached, 0 when it loses, ½ on a tie; null without a shared rung. */
export function pairOutcome(a: { score: number; tie: number }[], b: { score: number; tie: number }[]): number | null {
  for (let k = Math.min(a.length, b.length) - 1; k >= 0; k--) {
    const x = a[k];
    const y = b[k];
    if (!x || !y) continue;
    const d = x.score - y.score || x.tie - y.tie;
    return d < 0 ? 1 : d > 0 ? 0 : 0.5;
  }
  return null;
}

/** Each searched setting's values with the share of cross-value comparisons their trials win (EFFECTS_RULE). */
export function marginalEffects(state: SweepState): SweepReportData["effects"] {
  const byTrial = resultsByRung(state);
  const trials = [...byTrial.keys()];
  const space = parseSpace(state.settings.space);
  const out: SweepReportData["effects"] = [];
  for (const d of space.dims) {
    const value = (t: number): SpaceValue => state.trials[t]!.config[d.key]!;
    const bins =
      d.kind === "range"
        ? binsOf(
            trials.map((t) => Number(value(t))),
            d.scale === "log",
          )
        : null;
    const label = (t: number) =>
      bins ? bins.find((b) => Number(value(t)) >= b.lo && Number(value(t)) <= b.hi)!.label : String(value(t));
    const groups = new Map<string, { wins: number; pairs: number; trials: number }>();
    for (const a of trials) {
      const g = groups.get(label(a)) ?? { wins: 0, pairs: 0, trials: 0 };
      g.trials += 1;
      for (const b of trials) {
        const won = label(a) === label(b) ? null : pairOutcome(byTrial.get(a)!, byTrial.get(b)!);
        if (won === null) continue;
        g.wins += won;
        g.pairs += 1;
      }
      groups.set(label(a), g);
    }
    const levels = [...groups.entries()]
      .filter(([, g]) => g.pairs > 0)
      .map(([v, g]) => ({ value: v, winRate: g.wins / g.pairs, trials: g.trials }));
    if (levels.length < 2) continue;
    const rates = levels.map((l) => l.winRate);
    out.push({ setting: d.key, levels, spread: Math.max(...rates) - Math.min(...rates) });
  }
  return out.sort((a, b) => b.spread - a.spread);
}

/** A plain-language recommendation and the command line that trains the best configuration for the full length. */
function recommend(dir: string, state: SweepState, best: Trial | null): SweepReportData["recommendation"] {
  if (!best) return { trial: null, text: "No trial finished yet.", command: "" };
  const s = state.settings;
  const row = trialRow(state, best);
  const settings = Object.entries(row.settings)
    .map(([k, v]) => `${k} ${v}`)
    .join(", ");
  const what =
    s.metric === "exact-match"
      ? `exact match ${(100 * row.metric).toFixed(1)}%`
      : `validation loss ${row.valLoss.toFixed(4)}`;
  const top = marginalEffects(state).find((e) => e.spread > 0);
  const lead = top ? [...top.levels].sort((a, b) => b.winRate - a.winRate)[0]! : null;
  const mattered =
    top && lead
      ? ` What mattered most: ${top.setting} (trials with ${top.setting} ${lead.value} won ${(100 * lead.winRate).toFixed(0)}% of their comparisons with the others at equal steps).`
      : "";
  return {
    trial: best.name,
    text: `Best: ${best.name} (${settings}) with ${what} after ${row.steps} steps.${mattered}`,
    command: commandLine(trialOptions(dir, state, best) as unknown as Record<string, unknown>),
  };
}

/** `loratune train …` with every setting that differs from train's defaults, into runs/best. */
function commandLine(o: Record<string, unknown>): string {
  const skip = new Set(["out", "keep-checkpoints", "save-every", "early-stopping"]);
  const parts = ["loratune train"];
  for (const d of TRAIN_OPTIONS) {
    const v = o[camelKey(d.key)];
    if (skip.has(d.key) || v === undefined || v === d.default) continue;
    if (d.kind === "bool") {
      if (v === !d.negate) parts.push(d.negate ? `--no-${d.key}` : `--${d.key}`);
      continue;
    }
    parts.push(`--${d.key}`, /[\s|"'$]/.test(String(v)) ? JSON.stringify(String(v)) : String(v));
  }
  parts.push("--out", "runs/best");
  return parts.join(" ");
}
