/**
 * The Runs page's behaviour (browser JavaScript): while a run is running, refreshes each row's status and steps
 * from GET /api/runs, and reloads the page when runs appear or disappear (a run started from a shell).
 */
export const RUNS_SCRIPT = `
function runsPage() {
  const known = new Set($$("tr[data-run]").map((tr) => tr.dataset.run));
  setInterval(async () => {
    const { runs } = await api("GET", "/api/runs");
    if (runs.length !== known.size || runs.some((r) => !known.has(r.id))) { location.reload(); return; }
    for (const r of runs) {
      const tr = $$("tr[data-run]").find((row) => row.dataset.run === r.id);
      if (!tr) continue;
      $('[data-field="status"]', tr).textContent = r.status + (r.child ? " (here)" : "");
      $('[data-field="steps"]', tr).textContent = r.totalSteps ? r.steps + " / " + r.totalSteps : String(r.steps);
    }
  }, 3000);
}
`;
