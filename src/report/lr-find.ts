/**
 * The page `loratune lr-find` writes (lr-find.html): the loss and its smoothed curve against the learning rate
 * (log10 axis, one tick a decade), the suggested learning rate drawn as a vertical line, the rule that chose it,
 * and the settings. Self-contained, in the run report's style; also a small text chart for the terminal.
 */
import { escapeHtml, lineChartSvg } from "./chart.ts";
import { cardsSection, renderPage, settingsHtml } from "./html.ts";

export interface LrFindPageInput {
  title: string;
  points: { lr: number; loss: number; smoothed: number }[];
  suggestion: { lr: number; rule: string; minLossLr: number; steepestLr: number } | null;
  diverged: boolean;
  settings: Record<string, unknown>;
}

/** A learning rate as people write it: 3e-4, 1.2e-3. */
export function lrText(lr: number): string {
  return Number(lr.toPrecision(2)).toExponential();
}

export function renderLrFindPage(p: LrFindPageInput): string {
  const xs = p.points.map((q) => Math.log10(q.lr));
  const series = [
    { name: "loss", color: "#2f6fdf", xs, ys: p.points.map((q) => q.loss) },
    { name: "smoothed", color: "#e0662a", xs, ys: p.points.map((q) => q.smoothed) },
  ];
  if (p.suggestion && p.points.length > 0) {
    const ys = p.points.map((q) => q.smoothed);
    const x = Math.log10(p.suggestion.lr);
    series.push({ name: "suggested", color: "#2a9d5c", xs: [x, x], ys: [Math.min(...ys), Math.max(...ys)] });
  }
  const chart = lineChartSvg({
    title: "Loss against learning rate",
    xLabel: "log10 learning rate",
    yLabel: "loss",
    series,
  });
  const s = p.suggestion;
  const cards = s
    ? [
        { key: "suggested learning rate", value: lrText(s.lr), sub: s.rule },
        { key: "lowest smoothed loss at", value: lrText(s.minLossLr) },
        { key: "steepest descent at", value: lrText(s.steepestLr) },
      ]
    : [];
  cards.push({ key: "steps", value: String(p.points.length), sub: p.diverged ? "stopped: the loss diverged" : "" });
  return renderPage(p.title, [
    cardsSection(cards),
    `<h2>Range test</h2>\n<section class="charts">\n<figure>${chart}</figure>\n</section>`,
    `<p>${escapeHtml(`Rule: ${s?.rule ?? "none (too few steps)"}.`)}</p>`,
    settingsHtml(p.settings),
  ]);
}

/** The curve as text: one row per sampled point, a bar of `#` as long as the smoothed loss is high. */
export function lrTextChart(points: { lr: number; smoothed: number }[], suggested: number | null, rows = 16): string {
  if (points.length === 0) return "";
  const lo = Math.min(...points.map((p) => p.smoothed));
  const hi = Math.max(...points.map((p) => p.smoothed));
  const every = Math.max(1, Math.ceil(points.length / rows));
  const lines: string[] = [];
  for (let i = 0; i < points.length; i += every) {
    const p = points[i]!;
    const width = hi > lo ? Math.round(((p.smoothed - lo) / (hi - lo)) * 40) : 0;
    const mark = suggested !== null && p.lr >= suggested && (i === 0 || points[i - every]!.lr < suggested) ? " <" : "";
    lines.push(`${lrText(p.lr).padStart(8)}  ${p.smoothed.toFixed(4).padStart(9)}  ${"#".repeat(width)}${mark}`);
  }
  return lines.join("\n");
}
