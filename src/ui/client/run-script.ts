/**
 * The run page's behaviour (browser JavaScript): follows GET /api/runs/:id/events, adding each metrics row to
 * the loss, learning-rate, gradient-norm and validation curves and the evaluations table (with the samples
 * generated at each evaluation, when the run scores exact match), and showing status,
 * steps, ETA and progress; Stop / Resume / Merge / Export call the API.
 */
export const RUN_SCRIPT = String.raw`
function runPage() {
  const root = $("#run");
  const id = root.dataset.run;
  const base = "/api/runs/" + encodeURIComponent(id);
  const series = { loss: [], lr: [], grad_norm: [], val_loss: [] };
  let drawing = false;
  const redraw = () => {
    if (drawing) return;
    drawing = true;
    requestAnimationFrame(() => {
      drawing = false;
      for (const fig of $$("figure.chart", root)) drawChart(fig, [{ name: fig.dataset.series, points: series[fig.dataset.series] }]);
    });
  };
  const clear = () => {
    for (const k of Object.keys(series)) series[k] = [];
    $("#evals tbody").textContent = "";
    redraw();
  };
  const events = new EventSource(base + "/events");
  events.addEventListener("reset", clear);
  events.addEventListener("metric", (e) => {
    const r = JSON.parse(e.data);
    if (r.type === "train") {
      for (const k of ["loss", "lr", "grad_norm"]) if (r[k] !== undefined && r[k] !== null) series[k].push([r.step, r[k]]);
      $("#last-loss").textContent = fmt(r.loss);
    } else if (r.type === "eval") {
      series.val_loss.push([r.step, r.val_loss]);
      const samples = h("td", { class: "samples" }, (r.samples || []).map((x) => h("div", { class: "row-preview" }, [h("span", { class: "tok-masked" }, x.prompt), " → ", h("strong", {}, x.prediction === "" ? "(nothing)" : x.prediction), h("em", {}, "; expected: " + x.reference)])));
      $("#evals tbody").append(h("tr", {}, [h("td", { class: "num" }, r.step), h("td", { class: "num" }, fmt(r.val_loss)), h("td", { class: "num" }, fmt(r.val_perplexity)), samples]));
    }
    redraw();
  });
  events.addEventListener("status", (e) => {
    const s = JSON.parse(e.data);
    // The marker says how the run ended a moment before its process has written the adapter and exited.
    $("#status").textContent = s.status + (s.running ? (s.status === "running" || s.status === "starting" ? " (started here)" : " (finishing)") : "");
    $("#steps").textContent = s.steps + (s.totalSteps ? " / " + s.totalSteps : "");
    $("#eta").textContent = s.running ? fmtSeconds(s.etaS) : "–";
    const bar = $("#progress");
    bar.max = s.totalSteps || 1;
    bar.value = s.steps;
    $("#stop-button").disabled = !s.running;
    $("#resume-button").disabled = s.running;
    root.dataset.status = s.status;
    root.dataset.running = String(s.running);
    $("#run-error").textContent = s.output.length ? "the run's process ended with " + s.exitCode + ":\n" + s.output.join("\n") : "";
  });
  const act = async (button, f) => {
    button.disabled = true;
    $("#run-error").textContent = "";
    try { await f(); } catch (err) { $("#run-error").textContent = err.message; button.disabled = false; }
  };
  $("#stop-button").addEventListener("click", (e) => act(e.target, () => api("POST", base + "/stop", {})));
  $("#resume-button").addEventListener("click", (e) => act(e.target, () => {
    const steps = $("#extend-steps").value.trim();
    return api("POST", base + "/resume", steps ? { steps: Number(steps) } : {});
  }));
  for (const b of $$("[data-action]", root)) {
    b.addEventListener("click", () => act(b, async () => {
      const out = $("#action-output");
      out.hidden = false;
      out.textContent = b.textContent + "…";
      const r = await api("POST", base + "/" + b.dataset.action, {});
      out.textContent = r.output.join("\n") + "\n→ " + r.out;
      b.disabled = false;
    }));
  }
}
`;
