/**
 * The Runs page: every run of the workspace (started here or from a shell) with its status, steps, best validation
 * loss, a loss sparkline and tokens/s; tick runs to compare them. The script refreshes the table while any run is
 * running. Sweeps link to their report (trial table and heat map).
 */
import type { RunSummary } from "../run-summary.ts";
import { escapeHtml, layout, num, sparkline } from "./layout.ts";

export function runsPage(
  workspace: string,
  runs: (RunSummary & { child: boolean })[],
  sweeps: { id: string; trials: number }[],
): string {
  const rows = runs.map(runRow).join("\n");
  const table =
    runs.length === 0
      ? `<p>No runs in ${escapeHtml(workspace)} yet. <a href="/new">Start one</a>, or run <code>loratune train --out ${escapeHtml(workspace)}/NAME ...</code>.</p>`
      : `<form method="get" action="/compare" aria-label="Runs">
<table id="runs"><thead><tr><th scope="col">Compare</th><th scope="col">Run</th><th scope="col">Status</th>
<th scope="col" class="num">Steps</th><th scope="col" class="num">Best val loss</th><th scope="col" class="num">Loss</th>
<th scope="col" class="wide">Loss curve</th><th scope="col" class="num">Tokens/s</th></tr></thead>
<tbody>
${rows}
</tbody></table>
<div class="actions"><button type="submit">Compare selected</button></div>
</form>`;
  const sweepList =
    sweeps.length === 0
      ? ""
      : `<h2>Sweeps</h2><ul>${sweeps
          .map(
            (s) =>
              `<li><a href="/api/sweeps/${encodeURIComponent(s.id)}/report">${escapeHtml(s.id)}</a> (${s.trials} trials; the report's table and heat map)</li>`,
          )
          .join("")}</ul>`;
  return layout("Runs", "/", "runs", `<p>Workspace: <code>${escapeHtml(workspace)}</code></p>\n${table}\n${sweepList}`);
}

function runRow(r: RunSummary & { child: boolean }): string {
  const id = escapeHtml(r.id);
  const steps = r.totalSteps ? `${r.steps} / ${r.totalSteps}` : String(r.steps);
  return `<tr data-run="${id}">
<td><input type="checkbox" name="runs" value="${id}" id="cmp-${id}" aria-label="compare ${id}"></td>
<td><a href="/run?id=${encodeURIComponent(r.id)}">${id}</a></td>
<td data-field="status">${escapeHtml(r.status)}${r.child ? " (here)" : ""}</td>
<td class="num" data-field="steps">${steps}</td>
<td class="num">${num(r.bestValLoss)}</td>
<td class="num">${num(r.lastLoss)}</td>
<td class="wide">${sparkline(r.loss, `loss of ${r.id}`)}</td>
<td class="num">${r.tokensPerS === null ? "–" : Math.round(r.tokensPerS)}</td>
</tr>`;
}
