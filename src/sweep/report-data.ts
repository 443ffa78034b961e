/**
 * The sweep's data, as report.html shows it and `sweep --json` prints it: one row per trial (its settings, the
 * furthest rung it reached and the goal metric there, tokens/s, peak memory, trainable parameters, adapter size,
 * status), every trial's validation curve, a rank × learning-rate heat map, each setting's marginal effect, and a
 * recommendation with the best trial's command line.
 *
 * Comparisons: the best trial is the best at the highest rung any trial reached (asha), or over all trials. A
 * setting's marginal effect compares, at the lowest rung (where every trial has a result), the mean goal metric of
 * the trials with each of its values (a range is split into three log- or equal-width bins); the spread between
 * its best and worst value says how much it mattered.
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
    budget: s.budget,
    stepsUsed: state.jobs.reduce((n, j) => n + (j.status === "done" ? j.toStep - j.fromStep : 0), 0),
    trials: rows,
    curves: state.trials.map((t) => ({ trial: t.name, ...curve(dir, t, s.metric) })),
    heatmap: heatmap(rows, s.metric),
    effects: marginalEffects(state),
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

/** Each searched setting's mean goal metric per value at the lowest rung, and its spread. */
export function marginalEffects(state: SweepState): SweepReportData["effects"] {
  const metric = state.settings.metric;
  const first = state.jobs.filter((j) => j.rung === 0 && j.status === "done" && j.result);
  const space = parseSpace(state.settings.space);
  const out: SweepReportData["effects"] = [];
  for (const d of space.dims) {
    const value = (j: Job): SpaceValue => state.trials[j.trial]!.config[d.key]!;
    const numeric = d.kind === "range";
    const bins = numeric
      ? binsOf(
          first.map((j) => Number(value(j))),
          d.scale === "log",
        )
      : null;
    const groups = new Map<string, number[]>();
    for (const j of first) {
      const v = value(j);
      const label = bins ? bins.find((b) => Number(v) >= b.lo && Number(v) <= b.hi)!.label : String(v);
      groups.set(label, [...(groups.get(label) ?? []), shown(j, metric)]);
    }
    const levels = [...groups.entries()].map(([label, xs]) => ({
      value: label,
      mean: xs.reduce((a, b) => a + b, 0) / xs.length,
      trials: xs.length,
    }));
    if (levels.length < 2) continue;
    const means = levels.map((l) => l.mean);
    out.push({ setting: d.key, levels, spread: Math.max(...means) - Math.min(...means) });
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
  const mattered = top ? ` What mattered most at the first rung: ${top.setting}.` : "";
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
