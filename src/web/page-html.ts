/**
 * The browser page's HTML (dist-web/index.html, written by scripts/build-web.ts): the UI's styles
 * (ui/pages/layout.ts) and the page's static structure; the bundle (loratune-web.js, entry.ts) fills it in. Every
 * URL is relative, so the folder works wherever it is served: `loratune ui` at /webgpu/, or any static host.
 */
import { CSS } from "../ui/pages/layout.ts";
import { SETTING_FIELDS, WEB_DEFAULTS } from "./settings.ts";

/** The bundle's file name beside index.html. */
export const BUNDLE_FILE = "loratune-web.js";

const EXTRA_CSS = `
#gpu-status { margin: 0 0 12px; padding: 8px 12px; border: 1px solid var(--line); border-radius: 6px; }
#gpu-status[data-ok="false"] { border-color: var(--bad); color: var(--bad); }
td.ok { color: #2e7d32; font-weight: 700; } td.bad { color: var(--bad); font-weight: 700; }
progress { width: 100%; }
`;

const esc = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");

export function pageHtml(): string {
  const fields = SETTING_FIELDS.map((f) => {
    const v = String(WEB_DEFAULTS[f.key]);
    return `<div class="field"><label for="f-${f.name}">${esc(f.label)}</label><input id="f-${f.name}" name="${f.name}" value="${esc(v)}"></div>`;
  }).join("\n");
  const chart = (id: string, caption: string) =>
    `<figure class="chart" id="${id}"><figcaption>${caption}</figcaption><div class="plot"><p>No points yet.</p></div></figure>`;
  return `<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Train in the browser (WebGPU) · loratune</title>
<style>${CSS}${EXTRA_CSS}</style></head>
<body>
<header><strong>loratune</strong><span>LoRA fine-tuning in your browser, on WebGPU</span></header>
<main id="main">
<h1>Train in the browser (WebGPU)</h1>
<p>The bundled demo model (a 3.2M-parameter Llama, 4 layers) learns the demo task: fill a fixed card
(name, job, town, item) from a sentence. Nothing leaves this page: the model, the data and the training all stay in
the tab, on your GPU.</p>
<p id="gpu-status" role="status">Checking for WebGPU…</p>
<noscript><p class="error">This page needs JavaScript.</p></noscript>
<form id="settings"><div class="fields">
${fields}
</div></form>
<div class="actions">
<button id="train" type="button" disabled>Train</button>
<button id="stop" type="button" class="secondary" disabled>Stop</button>
<button id="score" type="button" class="secondary" disabled>Score held-out sentences</button>
<a id="download-weights" class="button" hidden download="adapter_model.safetensors">Download adapter_model.safetensors</a>
<a id="download-config" class="button" hidden download="adapter_config.json">Download adapter_config.json</a>
<a id="download-data" class="button secondary" hidden download="train.jsonl">Download train.jsonl</a>
</div>
<p id="status" data-state="idle" role="status">Idle.</p>
<p id="error" class="error" role="alert"></p>
<progress id="progress" value="0" max="1"></progress>
<div class="cards">
<div class="card"><div class="k">step</div><div class="v" id="card-step">–</div></div>
<div class="card"><div class="k">loss</div><div class="v" id="card-loss">–</div></div>
<div class="card"><div class="k">held-out loss</div><div class="v" id="card-heldout">–</div></div>
<div class="card"><div class="k">held-out exact match</div><div class="v" id="card-exact">–</div></div>
<div class="card"><div class="k">tokens/s</div><div class="v" id="card-speed">–</div></div>
<div class="card"><div class="k">GPU memory</div><div class="v" id="card-memory">–</div></div>
</div>
<div class="grid">
${chart("loss-chart", "Training loss")}
${chart("heldout-chart", "Held-out loss")}
${chart("lr-chart", "Learning rate")}
${chart("norm-chart", "Gradient norm (before clipping)")}
</div>
<h2>Held-out sentences</h2>
<table id="heldout"><thead><tr><th>Sentence</th><th>Expected</th><th>Greedy completion</th><th>Match</th><th class="num">Loss</th></tr></thead><tbody></tbody></table>
<h2>The same run on the CPU</h2>
<p>The page batches, initialises and schedules as <code>loratune train</code> does, so this command, on the run's
train.jsonl (the download beside the adapter's), trains the same adapter with the native CPU kernels:</p>
<pre id="cpu-command" class="out"></pre>
</main>
<script src="${BUNDLE_FILE}"></script>
</body>
</html>
`;
}
