/**
 * The New run page: a run name, the model picker, the data (a workspace path, or a file uploaded into
 * uploads/), the data preview, and a settings form generated from train's option table (TRAIN_OPTIONS) with the
 * CLI's defaults and help. The script checks the form as it changes (POST /api/check): errors beside their
 * fields in train's words, the memory and time estimate, and the equivalent command line.
 */
import { type OptionDef, optionHelp } from "../../api/options.ts";
import { TRAIN_OPTIONS } from "../../api/train-options.ts";
import type { ModelChoice } from "../models.ts";
import { FORM_HIDDEN } from "../run-check.ts";
import { escapeHtml, layout } from "./layout.ts";

/** Settings shown in the first group; the rest sit under "More settings". */
const MAIN_KEYS = new Set(["steps", "epochs", "batch-size", "seq-len", "lr", "rank", "alpha", "targets", "val-split"]);

export function newRunPage(models: ModelChoice[], defaultName: string): string {
  const shown = TRAIN_OPTIONS.filter((d) => !FORM_HIDDEN.has(d.key) && d.key !== "model" && d.key !== "data");
  const body = `<form id="new-run" novalidate>
<div class="grid">
<section aria-labelledby="h-what"><h2 id="h-what">Model and data</h2>
${textField("name", "Run name", `the run is written to runs/NAME in the workspace`, defaultName)}
<div class="field"><label for="f-model">Model</label>
<select id="f-model" name="model" aria-describedby="d-model e-model">
${models.map((m) => `<option value="${escapeHtml(m.value)}">${escapeHtml(m.label)}</option>`).join("")}
</select><small id="d-model">${escapeHtml(optionHelp(TRAIN_OPTIONS.find((d) => d.key === "model")!))}</small>
<div class="error" id="e-model" role="alert"></div></div>
${textField("data", "Data (path in the workspace)", "JSONL file(s), comma-separated, relative to the workspace", "")}
<div class="field"><label for="f-upload">Or upload a JSONL file</label>
<input type="file" id="f-upload" accept=".jsonl" aria-describedby="d-upload"><small id="d-upload">saved as uploads/NAME.jsonl in the workspace</small>
<div class="error" id="e-upload" role="alert"></div></div>
<div class="actions"><button type="button" id="preview-button" class="secondary">Preview data</button></div>
</section>
<section aria-labelledby="h-est"><h2 id="h-est">Estimate</h2>
<div id="estimate" aria-live="polite">Fill in a model and data to see the estimate.</div>
<div class="error" id="e-run" role="alert"></div>
<div id="warnings"></div>
<h2>Command line</h2><code id="command">loratune train ...</code>
</section>
</div>
<section aria-labelledby="h-preview"><h2 id="h-preview">Data preview</h2><div id="preview" aria-live="polite"><p>Press “Preview data”.</p></div></section>
<section aria-labelledby="h-settings"><h2 id="h-settings">Settings</h2>
<div class="fields">${shown
    .filter((d) => MAIN_KEYS.has(d.key))
    .map(optionField)
    .join("\n")}</div>
<details><summary>More settings</summary>
<div class="fields">${shown
    .filter((d) => !MAIN_KEYS.has(d.key))
    .map(optionField)
    .join("\n")}</div>
</details>
</section>
<div class="actions"><button type="submit" id="start-button">Start run</button></div>
</form>`;
  return layout("New run", "/new", "new-run", body);
}

function textField(key: string, label: string, help: string, value: string): string {
  return `<div class="field"><label for="f-${key}">${escapeHtml(label)}</label>
<input id="f-${key}" name="${key}" value="${escapeHtml(value)}" aria-describedby="d-${key} e-${key}">
<small id="d-${key}">${escapeHtml(help)}</small><div class="error" id="e-${key}" role="alert"></div></div>`;
}

/** One option's control: its flag as the label, its help (with the default) as the description. */
export function optionField(d: OptionDef): string {
  const id = `f-${d.key}`;
  const describe = `aria-describedby="d-${d.key} e-${d.key}"`;
  const attrs = `id="${id}" name="${d.key}" data-option="${d.kind}" ${describe}`;
  let control: string;
  // A bool that is on by default is shown as its --no-KEY flag: ticked means off.
  if (d.kind === "bool" && d.negate)
    control = `<input type="checkbox" ${attrs} data-negate="true"${d.default === false ? " checked" : ""}>`;
  else if (d.kind === "bool") control = `<input type="checkbox" ${attrs}${d.default === true ? " checked" : ""}>`;
  else if (d.kind === "choice")
    control = `<select ${attrs}>${(d.choices ?? [])
      .map((c) => `<option${c === d.default ? " selected" : ""}>${escapeHtml(c)}</option>`)
      .join("")}${d.default === undefined ? '<option value="" selected>(not set)</option>' : ""}</select>`;
  else {
    const type = d.kind === "int" || d.kind === "number" ? ' inputmode="decimal"' : "";
    const value = d.default === undefined ? "" : escapeHtml(String(d.default));
    control = `<input ${attrs}${type} value="${value}"${d.defaultText ? ` placeholder="${escapeHtml(d.defaultText)}"` : ""}>`;
  }
  const label = d.kind === "bool" && d.negate ? `--no-${d.key}` : `--${d.key}`;
  return `<div class="field"><label for="${id}">${escapeHtml(label)}</label>${control}
<small id="d-${d.key}">${escapeHtml(optionHelp(d))}</small><div class="error" id="e-${d.key}" role="alert"></div></div>`;
}
