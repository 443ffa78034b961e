/**
 * The New run page's behaviour (browser JavaScript): collects the form as train option values, checks them as they
 * change (POST /api/check: errors beside their fields, the estimate, the command line), uploads a data file
 * (POST /api/uploads), previews the data (POST /api/preview: rows with trained tokens highlighted, the length
 * histogram, the truncation count) and starts the run (POST /api/runs, then opens its page).
 */
export const NEW_RUN_SCRIPT = String.raw`
function newRunPage() {
  const form = $("#new-run");
  const settings = () => {
    const out = { model: $("#f-model").value, data: $("#f-data").value.trim() };
    for (const input of $$("[data-option]", form)) {
      if (input.type === "checkbox") out[input.name] = input.dataset.negate ? !input.checked : input.checked;
      else if (input.value.trim() !== "") out[input.name] = input.value.trim();
    }
    return out;
  };
  const request = () => ({ name: $("#f-name").value.trim(), settings: settings() });
  const showErrors = (errors) => {
    for (const e of $$(".error", form)) e.textContent = "";
    for (const input of $$("[aria-invalid]", form)) input.removeAttribute("aria-invalid");
    for (const [key, message] of Object.entries(errors || {})) {
      const box = $("#e-" + key) || $("#e-run");
      box.textContent = (box.textContent ? box.textContent + "\n" : "") + message;
      const input = $("#f-" + key);
      if (input) input.setAttribute("aria-invalid", "true");
    }
  };
  const showEstimate = (r) => {
    const est = $("#estimate");
    est.textContent = "";
    const e = r.estimate;
    if (!e) { est.append("Fix the settings to see the estimate."); return; }
    const mib = (b) => (b / 1048576).toFixed(0) + " MiB";
    const rows = [];
    if (e.memory) rows.push(["Memory at peak", mib(e.memory.totalBytes) + " (weights " + mib(e.memory.weightBytes) + ", adapter and optimizer " + mib(e.memory.optimizerBytes) + ", activations " + mib(e.memory.activationBytes) + ")"]);
    rows.push(["Memory available", mib(e.availableBytes)]);
    if (e.steps !== null) rows.push(["Steps", String(e.steps) + " × about " + e.tokensPerStep + " tokens"]);
    rows.push(["Time", e.seconds === null ? "unknown until a run of this model has reported its tokens/s" : "about " + fmtSeconds(e.seconds) + " at " + Math.round(e.tokensPerS) + " tokens/s (earlier runs of this model)"]);
    est.append(h("table", {}, rows.map((row) => h("tr", {}, [h("th", { scope: "row" }, row[0]), h("td", {}, row[1])]))));
    $("#warnings").textContent = (r.warnings || []).join("\n");
  };
  let seq = 0;
  const check = async () => {
    const mine = ++seq;
    try {
      const r = await api("POST", "/api/check", request());
      if (mine !== seq) return;
      showErrors(r.errors);
      showEstimate(r);
      $("#command").textContent = "loratune train " + r.args.join(" ") + " --out runs/" + request().name;
    } catch (err) {
      if (mine === seq) showErrors(Object.assign({ run: err.message }, (err.data && err.data.errors) || {}));
    }
  };
  let timer = 0;
  const later = () => { clearTimeout(timer); timer = setTimeout(check, 300); };
  form.addEventListener("input", later);
  form.addEventListener("change", later);

  $("#f-upload").addEventListener("change", async (e) => {
    const file = e.target.files[0];
    if (!file) return;
    const name = file.name.replace(/[^\w.-]/g, "_").replace(/^[.]+/, "");
    $("#e-upload").textContent = "uploading " + file.name + "…";
    try {
      const res = await fetch("/api/uploads?name=" + encodeURIComponent(name.endsWith(".jsonl") ? name : name + ".jsonl"), { method: "POST", body: file, credentials: "same-origin" });
      const r = await res.json();
      if (!res.ok) throw new Error(r.error);
      $("#f-data").value = r.path;
      $("#e-upload").textContent = "";
      later();
    } catch (err) { $("#e-upload").textContent = err.message; }
  });

  $("#preview-button").addEventListener("click", async () => {
    const box = $("#preview");
    box.textContent = "Reading the data…";
    const s = settings();
    try {
      const p = await api("POST", "/api/preview", { model: s.model, data: s.data, "seq-len": Number(s["seq-len"]), "train-on-prompt": s["train-on-prompt"] });
      renderPreview(box, p);
    } catch (err) { box.textContent = ""; box.append(h("p", { class: "error", role: "alert" }, err.message)); }
  });

  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const button = $("#start-button");
    button.disabled = true;
    try {
      const r = await api("POST", "/api/runs", request());
      location.href = "/run?id=" + encodeURIComponent(r.id);
    } catch (err) {
      showErrors(Object.assign({ run: err.message }, (err.data && err.data.errors) || {}));
      button.disabled = false;
    }
  });
  check();
}

function renderPreview(box, p) {
  box.textContent = "";
  box.dataset.rows = String(p.rows.length);
  box.append(h("p", {}, p.files.map((f) => f.path + ": " + f.rows + " " + f.shape + " rows").join("; ") + ". " + p.truncated + " of " + p.rowsRead + " rows longer than --seq-len " + p.seqLen + " (truncated)" + (p.droppedNoLabels ? "; " + p.droppedNoLabels + " rows with no trained token (dropped)" : "") + "."));
  const max = Math.max(1, ...p.histogram.map((b) => b.count));
  const hist = h("table", { "aria-label": "length histogram" }, [h("tr", {}, [h("th", { scope: "col" }, "Tokens"), h("th", { scope: "col" }, "Rows")])]);
  for (const b of p.histogram) {
    const bar = h("span", { style: "display:inline-block;height:10px;background:" + (b.lo >= p.seqLen ? "#c0392b" : "#1f5fbf") + ";width:" + Math.round((160 * b.count) / max) + "px" }, "");
    hist.append(h("tr", {}, [h("td", {}, b.lo + "–" + (b.hi - 1)), h("td", {}, [bar, " " + b.count])]));
  }
  box.append(h("h3", {}, "Lengths"), hist, h("h3", {}, "Rows as trained (highlighted: trained tokens; grey: masked)"));
  for (const row of p.rows) {
    const div = h("div", { class: "row-preview" }, []);
    for (const run of row.runs) div.append(h("span", { class: run.trained ? "tok-trained" : "tok-masked", title: (run.trained ? "trained" : "masked") + ", " + run.tokens + " tokens" }, run.text));
    if (row.cut) div.append(h("em", {}, " … " + row.cut + " tokens cut by --seq-len"));
    box.append(div);
  }
}
`;
