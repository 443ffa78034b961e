/**
 * A run's page: progress and ETA, the loss, learning-rate and gradient-norm curves and the evaluations, drawn by
 * the script from the run's event stream (GET /api/runs/:id/events) as rows arrive; Stop (checkpoint, then stop),
 * Resume, and Merge / Export (the CLI's commands, run as children) buttons; the run's files and settings. With
 * --metric exact-match each evaluation row carries the completions generated for the first validation prompts.
 */
import type { RunSummary } from "../run-summary.ts";
import { escapeHtml, layout } from "./layout.ts";

const CHARTS = [
  ["loss", "Training loss"],
  ["lr", "Learning rate"],
  ["grad_norm", "Gradient norm"],
  ["val_loss", "Validation loss"],
] as const;

export function runPage(summary: RunSummary, settings: Record<string, unknown>): string {
  const id = escapeHtml(summary.id);
  const settingsRows = Object.entries(settings)
    .map(([k, v]) => `<tr><th scope="row"><code>${escapeHtml(k)}</code></th><td>${escapeHtml(String(v))}</td></tr>`)
    .join("");
  const body = `<div id="run" data-run="${id}">
<div class="cards">
<div class="card"><div class="k">Status</div><div class="v" id="status">${escapeHtml(summary.status)}</div></div>
<div class="card"><div class="k">Steps</div><div class="v" id="steps">${summary.steps}${summary.totalSteps ? ` / ${summary.totalSteps}` : ""}</div></div>
<div class="card"><div class="k">ETA</div><div class="v" id="eta">–</div></div>
<div class="card"><div class="k">Loss</div><div class="v" id="last-loss">–</div></div>
</div>
<p><label for="progress">Progress</label> <progress id="progress" max="${summary.totalSteps ?? 1}" value="${summary.steps}"></progress></p>
<div class="actions">
<button type="button" id="stop-button">Stop (checkpoint, then stop)</button>
<button type="button" id="resume-button" class="secondary">Resume</button>
<label for="extend-steps">Steps to reach</label><input id="extend-steps" inputmode="numeric" size="6" aria-describedby="d-extend">
<small id="d-extend">(empty: continue to the planned end; a number extends a finished run)</small>
</div>
<div class="actions">
<button type="button" class="secondary" data-action="merge">Merge into a model</button>
<button type="button" class="secondary" data-action="export">Export GGUF</button>
<a href="/playground?run=${encodeURIComponent(summary.id)}">Open in the playground</a>
<a href="/api/runs/${encodeURIComponent(summary.id)}/files/report.html">Report</a>
<a href="/api/runs/${encodeURIComponent(summary.id)}/files/config.yaml">config.yaml</a>
</div>
<div class="error" id="run-error" role="alert"></div>
<pre class="out" id="action-output" aria-live="polite" hidden></pre>
<div class="grid">
${CHARTS.map(([key, title]) => `<figure class="chart" id="chart-${key}" data-series="${key}" data-points="0"><figcaption>${title}</figcaption><div class="plot"></div></figure>`).join("\n")}
</div>
<h2>Evaluations</h2>
<table id="evals"><thead><tr><th scope="col" class="num">Step</th><th scope="col" class="num">Val loss</th><th scope="col" class="num">Perplexity</th><th scope="col">Samples (prompt → generated; expected)</th></tr></thead><tbody></tbody></table>
<h2>Settings</h2><table>${settingsRows}</table>
</div>`;
  return layout(`Run ${summary.id}`, "/run", "run", body);
}
