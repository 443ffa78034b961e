import assert from "node:assert/strict";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { downsampleMinMax, formatTick, niceStep, ticksIn } from "../../src/report/chart.ts";
import {
  lastEvalSamples,
  type MetricRow,
  metricSeries,
  readMetrics,
  renderReport,
  writeReport,
} from "../../src/report/html.ts";

type CodedError = Error & { code?: string };

function withDir(fn: (dir: string) => void): void {
  const dir = mkdtempSync(join(tmpdir(), "lt-report-"));
  try {
    fn(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The SVG charts of a page, in order. */
function svgs(html: string): string[] {
  return html.match(/<svg[\s\S]*?<\/svg>/g) ?? [];
}

/** Number of "x,y" pairs in the polyline(s) of a series in one chart. */
function pointCount(svg: string, series: string): number {
  let n = 0;
  for (const m of svg.matchAll(/<polyline data-series="([^"]*)"[^>]*points="([^"]*)"/g)) {
    if (m[1] === series) n += (m[2] as string).split(" ").length;
  }
  return n;
}

/** A long run: loss strictly decreasing, warmup + cosine LR, grad norm with a few NaN, an eval every 1500 steps. */
function longRun(steps: number): MetricRow[] {
  const rows: MetricRow[] = [];
  for (let s = 1; s <= steps; s++) {
    const lr = s <= 100 ? (2e-4 * s) / 100 : 1e-4 * (1 + Math.cos((Math.PI * (s - 100)) / (steps - 100)));
    rows.push({ type: "train", step: s, loss: 3 / (1 + s / 500), lr, grad_norm: s % 1000 === 7 ? Number.NaN : 1 + s });
    if (s % 1500 === 0) rows.push({ type: "eval", step: s, val_loss: 3.2 / (1 + s / 500), val_perplexity: 5 });
  }
  return rows;
}

test("report: one svg per chart; long series downsampled to 2000 points, short ones kept; NaN counted", () => {
  const html = renderReport({ title: "run", metrics: longRun(10_000), settings: { lr: 2e-4 } });
  const [loss, lr, grad] = svgs(html);
  assert.equal(svgs(html).length, 3);
  assert.ok(loss && lr && grad);
  assert.equal(pointCount(loss, "train loss"), 2000); // monotone: every bucket keeps 2 points
  assert.equal(pointCount(loss, "val loss"), 6); // 1500..9000, never downsampled
  assert.equal((loss.match(/<circle /g) ?? []).length, 6); // eval points get markers
  assert.equal(pointCount(lr, "lr"), 2000);
  assert.ok(pointCount(grad, "grad norm") <= 2000);
  assert.match(grad, /10 non-finite values not drawn/);
  assert.doesNotMatch(loss, /non-finite/);
  assert.doesNotMatch(html, /NaN|Infinity/);
});

test("report: short runs keep every point; one point and constant series give finite coordinates and ticks", () => {
  const rows: MetricRow[] = Array.from({ length: 50 }, (_, i) => ({ type: "train", step: i + 1, loss: 2, lr: 0 }));
  const [loss, lr, grad] = svgs(renderReport({ title: "c", metrics: rows, settings: {} }));
  assert.equal(pointCount(loss as string, "train loss"), 50);
  assert.equal(pointCount(lr as string, "lr"), 50);
  assert.match(grad as string, /no data/);

  const one = renderReport({ title: "1", metrics: [{ type: "train", step: 1, loss: 2.5, lr: 1e-4 }], settings: {} });
  const [l1] = svgs(one);
  assert.equal(pointCount(l1 as string, "train loss"), 1);
  assert.equal((l1 as string).match(/<circle /g)?.length, 1); // a lone point is drawn as a dot
  for (const page of [one, renderReport({ title: "c", metrics: rows, settings: {} })]) {
    assert.doesNotMatch(page, /NaN|Infinity|undefined/);
    // y ticks around the constant value: more than one label on every chart
    for (const svg of svgs(page)) assert.ok((svg.match(/text-anchor="end" fill="currentColor"/g) ?? []).length >= 2);
  }
});

test("report: settings, title, tables and samples are escaped; no external references", () => {
  const nasty = `a<b>&"c"'d`;
  const html = renderReport({
    title: "Run <1> & co",
    metrics: longRun(20),
    settings: { data: nasty, lora: { r: 8, target_modules: ["q_proj", "<v>"] }, big: 10n, none: null },
    summary: { "trainable params": 1234567, "final loss": 0.512345, note: "<b>" },
    tables: [{ title: "LoRA & full", columns: ["mode", "tok/s"], rows: [["<lora>", 812.3456]] }],
    samples: { title: "Samples", rows: [{ prompt: "<script>alert('x')</script>", after: "ok & done" }] },
  });
  assert.ok(html.includes("a&lt;b&gt;&amp;&quot;c&quot;&#39;d"));
  assert.ok(!html.includes(nasty));
  assert.ok(html.includes("<title>Run &lt;1&gt; &amp; co</title>"));
  assert.ok(html.includes('<td class="key">lora.r</td><td class="text">8</td>'));
  assert.ok(html.includes("[&quot;q_proj&quot;,&quot;&lt;v&gt;&quot;]"));
  assert.ok(html.includes(">10<") && html.includes(">null<"));
  assert.ok(html.includes("&lt;lora&gt;") && html.includes(">812.3<") && html.includes(">0.5123<"));
  assert.ok(html.includes("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;"));
  assert.ok(html.includes("<th>prompt</th><th>after</th>")); // only the filled sample columns
  assert.doesNotMatch(html, /<script|<link|<img|<iframe|src=|url\(|@import/i);
  const withoutXmlns = html.replaceAll('xmlns="http://www.w3.org/2000/svg"', "");
  assert.ok(html.length - withoutXmlns.length > 0);
  assert.doesNotMatch(withoutXmlns, /http/i);
});

test("report: a step logged twice (resumed run) keeps the last row; series are sorted by step", () => {
  const rows: MetricRow[] = [1, 2, 3, 4, 5].map((s) => ({ type: "train", step: s, loss: 10 - s }));
  rows.push({ type: "train", step: 4, loss: 100 }, { type: "train", step: 6, loss: 1 }, { type: "eval", step: 2 });
  const { xs, ys } = metricSeries(rows, "train", "loss");
  assert.deepEqual(xs, [1, 2, 3, 4, 5, 6]);
  assert.deepEqual(ys, [9, 8, 7, 100, 5, 1]);
  assert.deepEqual(metricSeries(rows, "eval", "val_loss"), { xs: [], ys: [] });
});

test("chart helpers: min-max downsampling keeps spikes; nice ticks and labels", () => {
  const n = 9999;
  const xs = Array.from({ length: n }, (_, i) => i);
  const ys = xs.map((i) => Math.sin(i) + (i === 4321 ? 50 : 0) - (i === 777 ? 30 : 0));
  const d = downsampleMinMax(xs, ys, 2000);
  assert.ok(d.xs.length <= 2000 && d.xs.length > 1900);
  assert.ok(d.ys.includes(ys[4321] as number) && d.ys.includes(ys[777] as number));
  assert.ok(d.xs.every((x, i) => i === 0 || x > (d.xs[i - 1] as number)));
  assert.equal(downsampleMinMax(xs.slice(0, 2000), ys.slice(0, 2000), 2000).xs.length, 2000);
  assert.equal(niceStep(4, 5), 1);
  assert.equal(niceStep(0.037, 5), 0.01);
  assert.equal(niceStep(2e-4, 5), 5e-5);
  assert.deepEqual(ticksIn(0.3, 1.05, 0.2), [0.4, 0.6, 0.8, 1]);
  assert.equal(formatTick(0.30000000000000004, 0.1, 1), "0.3");
  assert.equal(formatTick(1.5e-4, 5e-5, 2e-4), "1.5e-4");
  assert.equal(formatTick(0, 5e-5, 2e-4), "0");
});

test("readMetrics: blank lines skipped, null reads as NaN, other types skipped; errors name file:line", () => {
  withDir((dir) => {
    const p = join(dir, "metrics.jsonl");
    const good = [
      '{"type":"train","step":1,"loss":2.5,"lr":0.0001,"grad_norm":1.5,"tokens_per_s":900,"elapsed_s":0.4}',
      "",
      '{"type":"checkpoint","step":1}',
      '{"type":"train","step":2,"loss":null}\r',
      '{"type":"eval","step":2,"val_loss":2.25,"val_perplexity":9.49}',
      '{"type":"eval","step":3,"val_loss":2,"samples":[{"prompt":"Q?","prediction":"A","reference":"B"}]}',
    ];
    writeFileSync(p, `${good.join("\n")}\n\n`);
    const rows = readMetrics(p);
    assert.equal(rows.length, 4);
    assert.deepEqual(rows[3]?.samples, [{ prompt: "Q?", prediction: "A", reference: "B" }]);
    assert.deepEqual(rows[0], {
      type: "train",
      step: 1,
      loss: 2.5,
      lr: 0.0001,
      grad_norm: 1.5,
      tokens_per_s: 900,
      elapsed_s: 0.4,
    });
    assert.ok(Number.isNaN(rows[1]?.loss));
    assert.deepEqual(rows[2], { type: "eval", step: 2, val_loss: 2.25, val_perplexity: 9.49 });

    const bad: [string, RegExp][] = [
      ['{"type":"train","step":3,"loss":', /invalid JSON/],
      ["[1,2]", /JSON object/],
      ['{"step":3}', /"type"/],
      ['{"type":"train","step":"3"}', /integer "step", got "3"/],
      ['{"type":"train","step":3,"loss":"low"}', /"loss" to be a number/],
      ['{"type":"eval","step":3,"samples":[{"prompt":1}]}', /"samples" to be an array of/],
    ];
    for (const [line, re] of bad) {
      writeFileSync(p, `${good.join("\n")}\n${line}\n`);
      assert.throws(
        () => readMetrics(p),
        (e: CodedError) => e.code === "ERR_DATA" && e.message.startsWith(`${p}:7: `) && re.test(e.message),
      );
    }
    assert.throws(
      () => readMetrics(join(dir, "missing.jsonl")),
      (e: CodedError) => e.code === "ERR_IO",
    );
  });
});

test("writeReport writes the rendered page atomically (no temp file left)", () => {
  withDir((dir) => {
    const input = { title: "t", metrics: longRun(30), settings: { seed: 1 } };
    const p = join(dir, "out", "report.html");
    writeReport(p, input);
    assert.equal(readFileSync(p, "utf8"), renderReport(input));
    assert.deepEqual(readdirSync(join(dir, "out")), ["report.html"]);
  });
});

test("the last evaluation's samples become the report's samples table", () => {
  const sample = (p: string) => ({ prompt: p, prediction: `${p}!`, reference: `${p}.` });
  const metrics: MetricRow[] = [
    { type: "eval", step: 10, val_loss: 2, samples: [sample("a")] },
    { type: "train", step: 11, loss: 1 },
    { type: "eval", step: 20, val_loss: 1.5, samples: [sample("b"), sample("<c>")] },
    { type: "eval", step: 30, val_loss: 1.4 },
  ];
  const samples = lastEvalSamples(metrics);
  assert.equal(samples?.title, "Samples at the last evaluation (step 20): validation prompts, greedy completions");
  assert.deepEqual(samples?.rows[1], { prompt: "<c>", expected: "<c>.", after: "<c>!" });
  assert.equal(lastEvalSamples(metrics.slice(1, 2)), undefined);
  const html = renderReport({ title: "t", metrics, settings: {}, samples });
  assert.match(html, /<td class="text">&lt;c&gt;!<\/td>/);
});
