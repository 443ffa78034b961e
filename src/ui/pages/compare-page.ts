/**
 * The Compare page: tick runs, see their training and validation loss curves overlaid (the report's SVG charts,
 * drawn on the server) and a table of their settings, differing ones first and marked.
 */
import { lineChartSvg } from "../../report/chart.ts";
import type { ComparedRun, SettingsDiff } from "../compare.ts";
import type { RunSummary } from "../run-summary.ts";
import { escapeHtml, layout } from "./layout.ts";

const COLORS = ["#1f5fbf", "#c0392b", "#2e8b57", "#8e44ad", "#d35400", "#16a085"];

export function comparePage(all: RunSummary[], runs: ComparedRun[], diff: SettingsDiff[]): string {
  const chosen = new Set(runs.map((r) => r.id));
  const picker = `<form method="get" action="/compare"><fieldset><legend>Runs to compare</legend>
${all.map((r) => `<label><input type="checkbox" name="runs" value="${escapeHtml(r.id)}"${chosen.has(r.id) ? " checked" : ""}> ${escapeHtml(r.id)}</label>`).join("<br>\n")}
</fieldset><div class="actions"><button type="submit">Compare</button></div></form>`;
  if (runs.length === 0) return layout("Compare", "/compare", "compare", `${picker}<p>Tick two or more runs.</p>`);
  const chart = (title: string, pick: (r: ComparedRun) => [number, number][]) => {
    const points = runs.reduce((n, r) => n + pick(r).length, 0);
    const svg = lineChartSvg({
      title,
      xLabel: "step",
      yLabel: "loss",
      yScale: "auto",
      series: runs.map((r, i) => ({
        name: r.id,
        xs: pick(r).map((p) => p[0]),
        ys: pick(r).map((p) => p[1]),
        color: COLORS[i % COLORS.length]!,
      })),
    });
    return `<figure class="chart" data-points="${points}" data-series-count="${runs.length}"><figcaption>${escapeHtml(title)}</figcaption>${svg}</figure>`;
  };
  const head = runs.map((r) => `<th scope="col">${escapeHtml(r.id)}</th>`).join("");
  const rows = diff
    .map(
      (d) =>
        `<tr${d.differs ? ' class="diff"' : ""}><th scope="row"><code>${escapeHtml(d.key)}</code>${d.differs ? " (differs)" : ""}</th>${d.values.map((v) => `<td>${escapeHtml(v)}</td>`).join("")}</tr>`,
    )
    .join("\n");
  const body = `${picker}
<div class="grid" id="compare-charts">${chart("Training loss", (r) => r.loss)}${runs.some((r) => r.valLoss.length) ? chart("Validation loss", (r) => r.valLoss) : ""}</div>
<h2>Settings (${diff.filter((d) => d.differs).length} differ)</h2>
<table id="settings-diff"><thead><tr><th scope="col">Setting</th>${head}</tr></thead><tbody>
${rows}
</tbody></table>`;
  return layout("Compare", "/compare", "compare", body);
}
