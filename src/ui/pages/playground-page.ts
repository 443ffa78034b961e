/**
 * The Playground: a chat with a run's base model and with the base plus the run's adapter, side by side, tokens
 * streaming into each column (POST /api/generate), with generate's sampling settings, defaults and help.
 */
import { GENERATE_OPTIONS } from "../../api/generate.ts";
import { optionHelp } from "../../api/options.ts";
import { SAMPLING_KEYS } from "../playground.ts";
import type { RunSummary } from "../run-summary.ts";
import { escapeHtml, layout } from "./layout.ts";

export function playgroundPage(runs: RunSummary[], selected: string | null): string {
  const options = runs
    .map(
      (r) =>
        `<option value="${escapeHtml(r.id)}"${r.id === selected ? " selected" : ""}>${escapeHtml(r.id)} (${escapeHtml(r.status)})</option>`,
    )
    .join("");
  const sampling = SAMPLING_KEYS.map((key) => {
    const d = GENERATE_OPTIONS.find((o) => o.key === key)!;
    return `<div class="field"><label for="g-${key}">--${key}</label>
<input id="g-${key}" name="${key}" inputmode="decimal" value="${escapeHtml(String(d.default ?? ""))}" aria-describedby="gd-${key}">
<small id="gd-${key}">${escapeHtml(optionHelp(d))}</small></div>`;
  }).join("\n");
  const body = `<form id="playground">
<div class="field"><label for="g-run">Run (its base model, and its adapter)</label><select id="g-run" name="run">${options}</select></div>
<div class="field"><label for="g-prompt">Message</label><textarea id="g-prompt" name="prompt" rows="3" required></textarea></div>
<div class="field"><label><input type="checkbox" id="g-chat" name="chat" checked> wrap the message with the chat template</label></div>
<details><summary>Sampling settings</summary><div class="fields">${sampling}</div></details>
<div class="actions"><button type="submit" id="send-button">Send</button><button type="button" id="stop-generate" class="secondary" disabled>Stop</button><button type="button" id="new-chat" class="secondary">New chat</button></div>
<div class="error" id="g-error" role="alert"></div>
</form>
<div class="grid">
<section aria-labelledby="h-base"><h2 id="h-base">Base model</h2><div class="out" id="out-base" aria-live="polite"></div><small id="stat-base"></small></section>
<section aria-labelledby="h-adapted"><h2 id="h-adapted">Adapted (with the run's adapter)</h2><div class="out" id="out-adapted" aria-live="polite"></div><small id="stat-adapted"></small></section>
</div>`;
  return layout("Playground", "/playground", "playground", body);
}
