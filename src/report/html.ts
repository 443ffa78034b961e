/**
 * The training report: one self-contained HTML page (inline CSS and SVG, no scripts, no external resources)
 * with a summary (and the best validation loss with its step, and the best exact match when evaluations scored
 * the task metric), training curves (loss with validation loss, learning rate, gradient norm, and exact match
 * with token accuracy when present; loss and gradient norm on a log axis when they span orders of magnitude),
 * optional tables and sample generations, and the run's settings. All text from the input is escaped.
 */
import { writeFileAtomic } from "../io/atomic.ts";
import { type ChartSeries, escapeHtml, lineChartSvg } from "./chart.ts";
import type { MetricRow } from "./metrics.ts";

export type { MetricRow } from "./metrics.ts";
export { readMetrics } from "./metrics.ts";

export interface ReportTable {
  title: string;
  columns: string[];
  rows: (string | number)[][];
}

export interface SampleRow {
  prompt: string;
  expected?: string;
  before?: string;
  after?: string;
}

export interface ReportInput {
  title: string;
  metrics: MetricRow[];
  /**
   * The user's settings. Entries that are not settings are left out: functions (callbacks), undefined values,
   * symbols, keys starting with "_", and objects that are not plain data (an AbortSignal, a stream).
   */
  settings: Record<string, unknown>;
  /** Headline numbers, e.g. trainable params, tokens/s, final loss. */
  summary?: Record<string, string | number>;
  /** Extra tables, e.g. a LoRA vs full fine-tuning comparison. */
  tables?: ReportTable[];
  samples?: { title: string; rows: SampleRow[] };
}

const COLORS = { train: "#2f6fdf", val: "#e0662a", lr: "#2a9d5c", grad: "#8e44ad", task: "#c0392b" };

const CSS = `
:root { color-scheme: light dark; --fg: #1d2330; --muted: #5b6475; --bg: #fff; --card: #f4f6fa; --line: #d9dee8; }
@media (prefers-color-scheme: dark) {
  :root { --fg: #e4e8f0; --muted: #9aa3b5; --bg: #14171d; --card: #1d2129; --line: #323847; }
}
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: var(--fg); background: var(--bg);
  max-width: 1360px; margin: 0 auto; padding: 24px; }
h1 { font-size: 22px; margin: 0 0 16px; } h2 { font-size: 17px; margin: 28px 0 10px; }
.cards { display: flex; flex-wrap: wrap; gap: 10px; }
.card { background: var(--card); border-radius: 8px; padding: 10px 14px; min-width: 140px; }
.card .k { color: var(--muted); font-size: 12px; } .card .v { font-size: 18px; font-weight: 600; }
.card .s { color: var(--muted); font-size: 12px; }
.charts { display: grid; grid-template-columns: repeat(auto-fit, minmax(420px, 1fr)); gap: 14px; }
.charts figure { margin: 0; background: var(--card); border-radius: 8px; padding: 8px; }
.charts svg { width: 100%; height: auto; display: block; }
table { border-collapse: collapse; margin: 6px 0 14px; }
th, td { border-bottom: 1px solid var(--line); padding: 5px 10px; text-align: left; vertical-align: top; }
th { color: var(--muted); font-weight: 600; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
td.text { white-space: pre-wrap; font-family: ui-monospace, Menlo, Consolas, monospace; font-size: 12px; max-width: 420px; }
td.key { font-family: ui-monospace, Menlo, Consolas, monospace; }
`;

/** Renders the whole page. Deterministic: the same input gives the same bytes. */
export function renderReport(input: ReportInput): string {
  return renderPage(input.title, [
    summarySection(input.summary, bestValidation(input.metrics), bestExactMatch(input.metrics)),
    chartsSection(input.metrics),
    ...(input.tables ?? []).map(tableSection),
    samplesSection(input.samples),
    settingsSection(input.settings),
  ]);
}

/**
 * A self-contained page in the report's style: the title as heading, then the sections (HTML, "" left out);
 * `extraCss` and `script` (inline, e.g. table sorting) are added when given.
 */
export function renderPage(title: string, sections: string[], extra: { css?: string; script?: string } = {}): string {
  return [
    "<!doctype html>",
    '<html lang="en">',
    '<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">',
    `<title>${escapeHtml(title)}</title>`,
    `<style>${CSS}${extra.css ?? ""}</style>`,
    "</head>",
    "<body>",
    `<h1>${escapeHtml(title)}</h1>`,
    ...sections.filter((s) => s !== ""),
    ...(extra.script ? [`<script>${extra.script}</script>`] : []),
    "</body>",
    "</html>",
    "",
  ].join("\n");
}

/** A row of summary cards ("key: value", with an optional line under the value). */
export function cardsSection(cards: { key: string; value: string; sub?: string }[]): string {
  if (cards.length === 0) return "";
  return `<section class="cards">\n${cards.map((c) => card(c.key, c.value, c.sub)).join("\n")}\n</section>`;
}

/** A plain table section (numbers right-aligned). */
export function tableHtml(t: ReportTable): string {
  return tableSection(t);
}

/** The settings table (nested settings as dotted keys). */
export function settingsHtml(settings: Record<string, unknown>): string {
  return settingsSection(settings);
}

/** Renders the page and writes it atomically to `path`. */
export function writeReport(path: string, input: ReportInput): void {
  writeFileAtomic(path, renderReport(input));
}

/** Formats a number for display: integers as is, others to 4 significant digits. */
export function formatValue(v: string | number): string {
  if (typeof v === "string") return v;
  if (Number.isInteger(v) || !Number.isFinite(v)) return String(v);
  return String(Number(v.toPrecision(4)));
}

/** The lowest validation loss and the step it was reached at (the first such step), or null without evals. */
export function bestValidation(metrics: readonly MetricRow[]): { loss: number; step: number } | null {
  const { xs, ys } = metricSeries(metrics, "eval", "val_loss");
  let best: { loss: number; step: number } | null = null;
  ys.forEach((loss, i) => {
    if (Number.isFinite(loss) && (best === null || loss < best.loss)) best = { loss, step: xs[i] as number };
  });
  return best;
}

/** The highest exact match and the first step it was reached at, or null when no evaluation scored it. */
export function bestExactMatch(metrics: readonly MetricRow[]): { value: number; step: number } | null {
  const { xs, ys } = metricSeries(metrics, "eval", "exact_match");
  let best: { value: number; step: number } | null = null;
  ys.forEach((value, i) => {
    if (Number.isFinite(value) && (best === null || value > best.value)) best = { value, step: xs[i] as number };
  });
  return best;
}

/**
 * The last evaluation's samples (eval rows of --metric exact-match runs carry them) as the report's samples table:
 * each validation prompt, its expected completion, and the completion the adapted model generated ("after").
 */
export function lastEvalSamples(metrics: readonly MetricRow[]): ReportInput["samples"] {
  const last = metrics.filter((r) => r.type === "eval" && r.samples !== undefined && r.samples.length > 0).at(-1);
  if (!last) return undefined;
  return {
    title: `Samples at the last evaluation (step ${last.step}): validation prompts, greedy completions`,
    rows: last.samples!.map((s) => ({ prompt: s.prompt, expected: s.reference, after: s.prediction })),
  };
}

function card(key: string, value: string, sub?: string): string {
  const s = sub === undefined ? "" : `<div class="s">${escapeHtml(sub)}</div>`;
  return `<div class="card"><div class="k">${escapeHtml(key)}</div><div class="v">${escapeHtml(value)}</div>${s}</div>`;
}

function summarySection(
  summary: Record<string, string | number> | undefined,
  best: { loss: number; step: number } | null,
  bestTask: { value: number; step: number } | null,
): string {
  const cards = Object.entries(summary ?? {}).map(([k, v]) => card(k, formatValue(v)));
  if (best) cards.push(card("best val loss", best.loss.toFixed(4), `at step ${best.step}`));
  if (bestTask)
    cards.push(card("best exact match", `${(100 * bestTask.value).toFixed(1)}%`, `at step ${bestTask.step}`));
  if (cards.length === 0) return "";
  return `<section class="cards">\n${cards.join("\n")}\n</section>`;
}

/**
 * One series from the rows of `type` holding `key`, sorted by step. A step that appears more than once
 * (a resumed run appends the steps after its checkpoint again) keeps its last row.
 */
export function metricSeries(
  rows: readonly MetricRow[],
  type: MetricRow["type"],
  key: keyof MetricRow,
): { xs: number[]; ys: number[] } {
  const byStep = new Map<number, number>();
  for (const r of rows) {
    const v = r[key];
    if (r.type === type && typeof v === "number") byStep.set(r.step, v);
  }
  const xs = [...byStep.keys()].sort((a, b) => a - b);
  return { xs, ys: xs.map((x) => byStep.get(x) as number) };
}

function chartsSection(metrics: readonly MetricRow[]): string {
  const series = (name: string, type: MetricRow["type"], key: keyof MetricRow, color: string, markers = false) =>
    ({ name, color, markers, ...metricSeries(metrics, type, key) }) satisfies ChartSeries;
  const loss = [series("train loss", "train", "loss", COLORS.train)];
  const val = series("val loss", "eval", "val_loss", COLORS.val, true);
  if (val.xs.length > 0) loss.push(val);
  const charts = [
    lineChartSvg({ title: "Loss", xLabel: "step", yLabel: "loss", series: loss, yScale: "auto" }),
    lineChartSvg({
      title: "Learning rate",
      xLabel: "step",
      yLabel: "lr",
      series: [series("lr", "train", "lr", COLORS.lr)],
    }),
    lineChartSvg({
      title: "Gradient norm",
      xLabel: "step",
      yLabel: "global L2 norm",
      series: [series("grad norm", "train", "grad_norm", COLORS.grad)],
      yScale: "auto",
    }),
  ];
  const exact = series("exact match", "eval", "exact_match", COLORS.task, true);
  if (exact.xs.length > 0) {
    const tokenAcc = series("token accuracy", "eval", "token_accuracy", COLORS.lr, true);
    charts.push(lineChartSvg({ title: "Task metric", xLabel: "step", yLabel: "share", series: [exact, tokenAcc] }));
  }
  const rewardAcc = series("reward accuracy", "train", "rewards_accuracy", COLORS.train);
  if (rewardAcc.xs.length > 0) {
    const held = series("held-out reward accuracy", "eval", "val_rewards_accuracy", COLORS.val, true);
    const prefAcc = series("held-out preference accuracy", "eval", "val_preference_accuracy", COLORS.task, true);
    const accSeries = [rewardAcc, held, prefAcc].filter((s) => s.xs.length > 0);
    charts.push(lineChartSvg({ title: "Preference accuracy", xLabel: "step", yLabel: "share", series: accSeries }));
    const margin = series("reward margin", "train", "rewards_margin", COLORS.grad);
    charts.push(
      lineChartSvg({
        title: "Reward margin",
        xLabel: "step",
        yLabel: "chosen − rejected",
        series: [margin],
        yScale: "auto",
      }),
    );
  }
  return `<h2>Training curves</h2>\n<section class="charts">\n${charts.map((c) => `<figure>${c}</figure>`).join("\n")}\n</section>`;
}

function cell(v: string | number): string {
  return typeof v === "number" ? `<td class="num">${escapeHtml(formatValue(v))}</td>` : `<td>${escapeHtml(v)}</td>`;
}

function tableSection(t: ReportTable): string {
  const head = t.columns.map((c) => `<th>${escapeHtml(c)}</th>`).join("");
  const rows = t.rows.map((r) => `<tr>${r.map(cell).join("")}</tr>`);
  return `<h2>${escapeHtml(t.title)}</h2>\n<table>\n<thead><tr>${head}</tr></thead>\n<tbody>\n${rows.join("\n")}\n</tbody>\n</table>`;
}

function samplesSection(samples: ReportInput["samples"]): string {
  if (!samples || samples.rows.length === 0) return "";
  // Only the columns that some row fills.
  const cols = (["prompt", "expected", "before", "after"] as const).filter((c) =>
    samples.rows.some((r) => r[c] !== undefined),
  );
  const head = cols.map((c) => `<th>${c}</th>`).join("");
  const rows = samples.rows.map(
    (r) => `<tr>${cols.map((c) => `<td class="text">${escapeHtml(r[c] ?? "")}</td>`).join("")}</tr>`,
  );
  return `<h2>${escapeHtml(samples.title)}</h2>\n<table>\n<thead><tr>${head}</tr></thead>\n<tbody>\n${rows.join("\n")}\n</tbody>\n</table>`;
}

/**
 * Whether a settings entry is one of the user's settings: not a function, undefined or symbol, not an internal
 * key ("_..."), and not an object other than plain data (arrays, plain objects and null are data).
 */
export function isSetting(key: string, v: unknown): boolean {
  if (key.startsWith("_")) return false;
  if (v === undefined || typeof v === "function" || typeof v === "symbol") return false;
  if (v !== null && typeof v === "object" && !Array.isArray(v)) {
    const proto = Object.getPrototypeOf(v);
    if (proto !== Object.prototype && proto !== null) return false;
  }
  return true;
}

/** Nested settings become dotted keys ("lora.r"); arrays and other values are shown as JSON. */
export function flattenSettings(
  settings: Record<string, unknown>,
  prefix = "",
  seen = new WeakSet<object>([settings]),
): [string, string][] {
  const out: [string, string][] = [];
  for (const [k, v] of Object.entries(settings)) {
    if (!isSetting(k, v)) continue;
    const key = prefix === "" ? k : `${prefix}.${k}`;
    if (v !== null && typeof v === "object" && !Array.isArray(v) && !seen.has(v) && Object.keys(v).length > 0) {
      seen.add(v);
      out.push(...flattenSettings(v as Record<string, unknown>, key, seen));
    } else out.push([key, settingText(v)]);
  }
  return out;
}

function settingText(v: unknown): string {
  if (typeof v === "string") return v;
  if (typeof v === "number" || typeof v === "bigint" || typeof v === "boolean") return String(v);
  try {
    return JSON.stringify(v, (_k, x) => (typeof x === "bigint" ? x.toString() : x)) ?? String(v);
  } catch {
    return String(v); // e.g. a circular structure
  }
}

function settingsSection(settings: Record<string, unknown>): string {
  const rows = flattenSettings(settings).map(
    ([k, v]) => `<tr><td class="key">${escapeHtml(k)}</td><td class="text">${escapeHtml(v)}</td></tr>`,
  );
  if (rows.length === 0) return "";
  return `<h2>Settings</h2>\n<table>\n<tbody>\n${rows.join("\n")}\n</tbody>\n</table>`;
}
