/**
 * report.html stays readable: a loss falling by orders of magnitude gets a log y axis, the best validation loss
 * has its own card with its step, and the settings table holds the user's settings only.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { formatLogTick, LOG_SCALE_RATIO, lineChartSvg, logTicks, wantsLogScale } from "../../src/report/chart.ts";
import { bestValidation, flattenSettings, type MetricRow, renderReport } from "../../src/report/html.ts";

const svgs = (html: string) => html.match(/<svg[\s\S]*?<\/svg>/g) ?? [];
/** y tick labels of a chart, top to bottom as drawn (by their y coordinate). */
function yTicks(svg: string): { label: string; y: number }[] {
  return [...svg.matchAll(/<text x="\d+" y="([\d.]+)" dy="0.32em" text-anchor="end" fill="currentColor">([^<]*)</g)]
    .map((m) => ({ y: Number(m[1]), label: m[2] as string }))
    .sort((a, b) => a.y - b.y);
}
/** y coordinates of a series' polyline. */
function ys(svg: string, series: string): number[] {
  const m = new RegExp(`data-series="${series}"[^>]*points="([^"]*)"`).exec(svg);
  return (m?.[1] ?? "").split(" ").map((p) => Number(p.split(",")[1]));
}

function decayRun(steps: number, from: number, to: number): MetricRow[] {
  const rows: MetricRow[] = [];
  for (let s = 1; s <= steps; s++) {
    const loss = from * (to / from) ** ((s - 1) / (steps - 1));
    rows.push({ type: "train", step: s, loss, lr: 1e-3, grad_norm: 1 + (s % 3) });
    if (s % 10 === 0) rows.push({ type: "eval", step: s, val_loss: s === 60 ? 0.004 : loss * 1.1 });
  }
  return rows;
}

test("a loss falling 1000x is drawn on a log axis: decade ticks, and equal ratios take equal heights", () => {
  const [loss, , grad] = svgs(renderReport({ title: "t", metrics: decayRun(100, 5, 0.005), settings: {} }));
  assert.ok(loss && grad);
  assert.match(loss, /loss \(log scale\)/);
  // 5 down to 0.004 spans four decades: one tick per power of ten, bracketing the data.
  assert.deepEqual(
    yTicks(loss).map((t) => t.label),
    ["10", "1", "0.1", "0.01", "1e-3"],
  );
  // Geometric decay is a straight line on a log axis: the drop per step is constant.
  const y = ys(loss, "train loss");
  const d1 = (y[1] as number) - (y[0] as number);
  const d2 = (y[99] as number) - (y[98] as number);
  assert.ok(Math.abs(d1 - d2) < 0.15, `${d1} vs ${d2}`);
  // The lower half of the plot is not empty (on a linear axis 99% of the curve sits in the bottom tenth).
  const mid = ((y[0] as number) + (y[99] as number)) / 2;
  assert.ok(y.filter((v) => v < mid).length > 30);
  // grad norm within 3x stays linear
  assert.doesNotMatch(grad, /log scale/);
});

test("auto log scale only for positive values spanning more than LOG_SCALE_RATIO", () => {
  assert.equal(LOG_SCALE_RATIO, 20);
  assert.equal(wantsLogScale([1, 19.9]), false);
  assert.equal(wantsLogScale([1, 21]), true);
  assert.equal(wantsLogScale([0, 1, 100]), false, "a zero cannot be drawn on a log axis");
  assert.equal(wantsLogScale([-1, 100]), false);
  assert.equal(wantsLogScale([0.01, Number.NaN, 10]), true, "non-finite values are ignored");
  const chart = (values: number[], yScale: "auto" | "log" | "linear") =>
    lineChartSvg({
      title: "c",
      xLabel: "x",
      yLabel: "y",
      series: [{ name: "s", color: "#000", xs: values.map((_, i) => i + 1), ys: values }],
      yScale,
    });
  assert.doesNotMatch(chart([1, 2, 3], "auto"), /log scale/);
  assert.match(chart([1, 2, 3], "log"), /log scale/);
  assert.doesNotMatch(chart([0, 2, 300], "log"), /log scale/, "forced log with a zero falls back to linear");
  assert.doesNotMatch(chart([1, 100], "linear"), /log scale/);
  assert.doesNotMatch(chart([1e-7, 3e-3, 5], "auto"), /NaN|Infinity/);
});

test("log ticks: 1-2-5 within three decades, powers of ten beyond, always bracketing the data", () => {
  assert.deepEqual(logTicks(0.15, 3), [0.1, 0.2, 0.5, 1, 2, 5]);
  assert.deepEqual(logTicks(2, 2), [2]);
  assert.deepEqual(logTicks(1e-6, 10), [1e-6, 1e-5, 1e-4, 1e-3, 0.01, 0.1, 1, 10]);
  const wide = logTicks(1e-12, 1e6);
  assert.ok(wide.length <= 10 && (wide[0] as number) <= 1e-12 && (wide.at(-1) as number) >= 1e6, String(wide));
  assert.equal(formatLogTick(0.05), "0.05");
  assert.equal(formatLogTick(1e-3), "1e-3");
  assert.equal(formatLogTick(2e5), "2e+5");
});

test("best validation card: the lowest val loss and the step it was reached at", () => {
  const metrics = decayRun(100, 5, 0.005);
  const best = bestValidation(metrics);
  assert.equal(best?.step, 60);
  const html = renderReport({ title: "t", metrics, settings: {}, summary: { steps: 100 } });
  assert.match(
    html,
    /<div class="card"><div class="k">best val loss<\/div><div class="v">0\.0040<\/div><div class="s">at step 60<\/div><\/div>/,
  );
  assert.equal(bestValidation([{ type: "train", step: 1, loss: 1 }]), null);
  assert.doesNotMatch(renderReport({ title: "t", metrics: [], settings: {} }), /best val loss/);
  // NaN evals are skipped; ties keep the first step.
  const tie: MetricRow[] = [
    { type: "eval", step: 5, val_loss: Number.NaN },
    { type: "eval", step: 10, val_loss: 2 },
    { type: "eval", step: 20, val_loss: 2 },
  ];
  assert.deepEqual(bestValidation(tie), { loss: 2, step: 10 });
});

test("settings table: the user's settings only (no callbacks, undefined values, internal keys or live objects)", () => {
  const settings = {
    lr: 1e-3,
    seed: 7,
    out: "runs/x",
    say: (t: string) => t,
    onEvent: undefined,
    _cache: { big: true },
    signal: new AbortController().signal,
    when: new Date(0),
    none: null,
    targets: ["q_proj", "v_proj"],
    lora: { r: 8, hook: () => 0 },
  };
  assert.deepEqual(flattenSettings(settings), [
    ["lr", "0.001"],
    ["seed", "7"],
    ["out", "runs/x"],
    ["none", "null"],
    ["targets", '["q_proj","v_proj"]'],
    ["lora.r", "8"],
  ]);
  const html = renderReport({ title: "t", metrics: [], settings });
  for (const gone of ["say", "onEvent", "_cache", "signal", "hook", "(unset)", "=&gt;"]) {
    assert.ok(!html.includes(gone), gone);
  }
});
