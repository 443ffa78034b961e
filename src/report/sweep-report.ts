/**
 * A sweep's report.html, in the run report's style and as self-contained (inline CSS, SVG and one small inline
 * script that sorts the trials table when a column heading is clicked): the recommendation with the best trial's
 * command line, the trials table, every trial's validation curve overlaid, a rank × learning-rate heat map, and
 * each setting's marginal effect.
 */
import { escapeHtml, lineChartSvg } from "./chart.ts";
import { cardsSection, formatValue, renderPage, settingsHtml } from "./html.ts";

export interface TrialRow {
  trial: string;
  settings: Record<string, number | string>;
  /** Steps trained (the furthest rung reached). */
  steps: number;
  /** The goal metric at that step: exact match as a share, or the validation loss. */
  metric: number;
  valLoss: number;
  exactMatch: number | null;
  tokensPerS: number;
  peakRssMb: number;
  trainableParams: number;
  adapterBytes: number;
  status: "completed" | "pruned" | "failed" | "unfinished";
}

export interface SweepReportData {
  title: string;
  strategy: string;
  metric: string;
  status: string;
  space: Record<string, string>;
  rungs: number[];
  /** asha: the setting whose values were halved on their own (--promote-per), or null: ASHA over all trials. */
  promotePer: string | null;
  budget: number;
  stepsUsed: number;
  /** Wall time spent over every run of the sweep, and the time budget in minutes (0: none). */
  elapsedS: number;
  timeBudgetMin: number;
  trials: TrialRow[];
  curves: { trial: string; steps: number[]; values: number[] }[];
  heatmap: { rows: string[]; columns: string[]; cells: (number | null)[][] } | null;
  /** Per searched setting: each value's share of won comparisons with trials of other values (see effectsRule). */
  effects: { setting: string; levels: { value: string; winRate: number; trials: number }[]; spread: number }[];
  /** How the effects were computed, in words. */
  effectsRule: string;
  recommendation: { trial: string | null; text: string; command: string };
}

const PALETTE = ["#2f6fdf", "#e0662a", "#2a9d5c", "#8e44ad", "#c0392b", "#16a085", "#d4a017", "#7f8c8d"];

const CSS = `
th.sort { cursor: pointer; } th.sort:hover { color: var(--fg); }
.heat td.cell { text-align: center; min-width: 70px; color: #111; font-variant-numeric: tabular-nums; }
pre.cmd { background: var(--card); padding: 10px 12px; border-radius: 8px; white-space: pre-wrap; word-break: break-all; }
`;

/** Sorts a table's rows by the clicked column (numbers by value, text alphabetically; a second click reverses). */
const SORT_SCRIPT = `document.querySelectorAll("table.sortable").forEach(function (t) {
  t.querySelectorAll("th").forEach(function (th, i) {
    th.classList.add("sort");
    th.addEventListener("click", function () {
      var rows = Array.from(t.tBodies[0].rows), dir = th.dataset.dir === "asc" ? -1 : 1;
      th.dataset.dir = dir === 1 ? "asc" : "desc";
      rows.sort(function (a, b) {
        var x = a.cells[i].dataset.v || a.cells[i].textContent, y = b.cells[i].dataset.v || b.cells[i].textContent;
        var nx = parseFloat(x), ny = parseFloat(y);
        return dir * (isNaN(nx) || isNaN(ny) ? x.localeCompare(y) : nx - ny);
      });
      rows.forEach(function (r) { t.tBodies[0].appendChild(r); });
    });
  });
});`;

const pct = (x: number) => `${(100 * x).toFixed(1)}%`;

function metricText(metric: string, v: number): string {
  if (!Number.isFinite(v)) return "n/a";
  return metric === "exact-match" ? pct(v) : v.toFixed(4);
}

export function renderSweepReport(d: SweepReportData): string {
  const best = d.trials.find((t) => t.trial === d.recommendation.trial);
  return renderPage(
    d.title,
    [
      cardsSection([
        {
          key: "strategy",
          value: d.strategy,
          sub: `rungs ${d.rungs.join(", ")}${d.promotePer ? `, promoted per ${d.promotePer}` : ""}`,
        },
        { key: "trials", value: String(d.trials.length), sub: d.status },
        { key: "steps used", value: String(d.stepsUsed), sub: `budget ${d.budget}` },
        {
          key: "wall time",
          value: `${(d.elapsedS / 60).toFixed(1)} min`,
          sub: d.timeBudgetMin > 0 ? `budget ${d.timeBudgetMin} min` : "no time budget",
        },
        ...(best ? [{ key: `best ${d.metric}`, value: metricText(d.metric, best.metric), sub: best.trial }] : []),
      ]),
      `<h2>Recommendation</h2>\n<p>${escapeHtml(d.recommendation.text)}</p>` +
        (d.recommendation.command ? `\n<pre class="cmd">${escapeHtml(d.recommendation.command)}</pre>` : ""),
      trialsTable(d),
      curvesSection(d),
      heatmapSection(d),
      effectsSection(d),
      `<h2>Search space</h2>\n${settingsHtml(d.space)}`,
    ],
    { css: CSS, script: SORT_SCRIPT },
  );
}

function trialsTable(d: SweepReportData): string {
  const keys = [...new Set(d.trials.flatMap((t) => Object.keys(t.settings)))];
  const head = [
    "trial",
    ...keys,
    "steps",
    d.metric === "exact-match" ? "exact match" : "val loss",
    "val loss",
    "tokens/s",
    "peak RSS (MB)",
    "trainable params",
    "adapter (MB)",
    "status",
  ];
  const num = (v: number, text = formatValue(v)) =>
    `<td class="num" data-v="${Number.isFinite(v) ? v : ""}">${escapeHtml(text)}</td>`;
  const rows = d.trials.map((t) => {
    const cells = [
      `<td>${escapeHtml(t.trial)}</td>`,
      ...keys.map((k) => {
        const v = t.settings[k];
        return typeof v === "number" ? num(v) : `<td>${escapeHtml(String(v ?? ""))}</td>`;
      }),
      num(t.steps),
      num(t.metric, metricText(d.metric, t.metric)),
      num(t.valLoss, Number.isFinite(t.valLoss) ? t.valLoss.toFixed(4) : "n/a"),
      num(Math.round(t.tokensPerS)),
      num(Math.round(t.peakRssMb)),
      num(t.trainableParams, t.trainableParams.toLocaleString("en-US")),
      num(t.adapterBytes / 2 ** 20, (t.adapterBytes / 2 ** 20).toFixed(2)),
      `<td>${t.status}</td>`,
    ];
    return `<tr>${cells.join("")}</tr>`;
  });
  return `<h2>Trials</h2>\n<table class="sortable">\n<thead><tr>${head.map((h) => `<th>${escapeHtml(h)}</th>`).join("")}</tr></thead>\n<tbody>\n${rows.join("\n")}\n</tbody>\n</table>`;
}

function curvesSection(d: SweepReportData): string {
  const series = d.curves
    .filter((c) => c.steps.length > 0)
    .map((c, i) => ({ name: c.trial, color: PALETTE[i % PALETTE.length]!, xs: c.steps, ys: c.values, markers: true }));
  if (series.length === 0) return "";
  const yLabel = d.metric === "exact-match" ? "exact match" : "val loss";
  const chart = lineChartSvg({
    title: `Validation ${yLabel} of every trial`,
    xLabel: "step",
    yLabel,
    series,
    width: 900,
    height: 380,
  });
  return `<h2>Validation curves</h2>\n<section class="charts">\n<figure>${chart}</figure>\n</section>`;
}

/** Cells colored from red (worst) to green (best) by the goal metric. */
function heatmapSection(d: SweepReportData): string {
  const h = d.heatmap;
  if (!h) return "";
  const values = h.cells.flat().filter((v): v is number => v !== null && Number.isFinite(v));
  const lo = Math.min(...values);
  const hi = Math.max(...values);
  const goodness = (v: number) => {
    const t = hi > lo ? (v - lo) / (hi - lo) : 1;
    return d.metric === "exact-match" ? t : 1 - t;
  };
  const color = (v: number) => `hsl(${Math.round(120 * goodness(v))}, 65%, 62%)`;
  const head = `<tr><th>rank \\ lr</th>${h.columns.map((c) => `<th>${escapeHtml(c)}</th>`).join("")}</tr>`;
  const rows = h.rows.map((r, i) => {
    const cells = h.cells[i]!.map((v) =>
      v === null
        ? '<td class="cell">–</td>'
        : `<td class="cell" style="background:${color(v)}">${escapeHtml(metricText(d.metric, v))}</td>`,
    );
    return `<tr><th>${escapeHtml(r)}</th>${cells.join("")}</tr>`;
  });
  return `<h2>Rank × learning rate</h2>\n<p>The best ${escapeHtml(d.metric)} of the trials in each cell (at the step each reached).</p>\n<table class="heat">\n${head}\n${rows.join("\n")}\n</table>`;
}

function effectsSection(d: SweepReportData): string {
  if (d.effects.length === 0) return "";
  const rows = d.effects.map(
    (e) =>
      `<tr><td class="key">${escapeHtml(e.setting)}</td><td class="num">${escapeHtml(pct(e.spread))}</td><td>${escapeHtml(
        e.levels.map((l) => `${l.value}: ${pct(l.winRate)} (${l.trials})`).join("; "),
      )}</td></tr>`,
  );
  return `<h2>What mattered</h2>\n<p>${escapeHtml(d.effectsRule)}</p>\n<table>\n<thead><tr><th>setting</th><th>spread</th><th>comparisons won by value</th></tr></thead>\n<tbody>\n${rows.join("\n")}\n</tbody>\n</table>`;
}
