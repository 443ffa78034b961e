/**
 * A line chart as SVG for the browser page (the UI's charts, src/ui/client/common-script.ts, drawn the same way:
 * shared axes, min/mid/max ticks, one polyline per series). The figure keeps the points drawn in `data-points`
 * (their count) for tests and screen readers.
 */
const SVG_NS = "http://www.w3.org/2000/svg";
const COLORS = ["#1f5fbf", "#c0392b", "#2e8b57", "#8e44ad"];

export interface Series {
  name: string;
  points: [number, number][];
}

/** A number to show: 4 significant digits. */
export function fmt(v: number, digits = 4): string {
  return Number.isFinite(v) ? String(Number(v.toPrecision(digits))) : "–";
}

/** Draws `series` into the figure's `.plot` element (replacing what was there). */
export function drawLineChart(figure: HTMLElement, series: readonly Series[]): void {
  const W = 560;
  const H = 220;
  const L = 52;
  const R = 10;
  const T = 10;
  const B = 28;
  const plot = figure.querySelector(".plot")!;
  const all = series.flatMap((s) => s.points).filter((p) => Number.isFinite(p[1]));
  figure.dataset.points = String(all.length);
  plot.textContent = "";
  if (all.length === 0) {
    const p = document.createElement("p");
    p.textContent = "No points yet.";
    plot.append(p);
    return;
  }
  const xs = all.map((p) => p[0]);
  const ys = all.map((p) => p[1]);
  let [x0, x1, y0, y1] = [Math.min(...xs), Math.max(...xs), Math.min(...ys), Math.max(...ys)];
  if (x1 === x0) x1 = x0 + 1;
  if (y1 === y0) [y0, y1] = [y0 - Math.abs(y0) * 0.05 - 1e-9, y1 + Math.abs(y1) * 0.05 + 1e-9];
  const sx = (x: number) => L + ((x - x0) / (x1 - x0)) * (W - L - R);
  const sy = (y: number) => T + (1 - (y - y0) / (y1 - y0)) * (H - T - B);
  const svg = document.createElementNS(SVG_NS, "svg");
  svg.setAttribute("viewBox", `0 0 ${W} ${H}`);
  svg.setAttribute("role", "img");
  svg.setAttribute("aria-label", `${figure.querySelector("figcaption")?.textContent ?? "chart"}: ${all.length} points`);
  const add = (tag: string, attrs: Record<string, string | number>, text?: string) => {
    const n = document.createElementNS(SVG_NS, tag);
    for (const [k, v] of Object.entries(attrs)) n.setAttribute(k, String(v));
    if (text !== undefined) n.textContent = text;
    svg.append(n);
  };
  add("line", { x1: L, y1: H - B, x2: W - R, y2: H - B, stroke: "#999" });
  add("line", { x1: L, y1: T, x2: L, y2: H - B, stroke: "#999" });
  for (const y of [y0, (y0 + y1) / 2, y1]) {
    add("text", { x: L - 4, y: sy(y) + 4, "text-anchor": "end", "font-size": 11 }, fmt(y, 3));
  }
  for (const x of [x0, x1]) add("text", { x: sx(x), y: H - 8, "text-anchor": "middle", "font-size": 11 }, fmt(x));
  series.forEach((s, i) => {
    const pts = s.points
      .filter((p) => Number.isFinite(p[1]))
      .map(([x, y]) => `${sx(x).toFixed(1)},${sy(y).toFixed(1)}`);
    const color = COLORS[i % COLORS.length]!;
    if (pts.length === 1) {
      const [cx, cy] = pts[0]!.split(",");
      add("circle", { cx: cx!, cy: cy!, r: 3, fill: color });
    } else if (pts.length > 1) {
      add("polyline", { points: pts.join(" "), fill: "none", stroke: color, "stroke-width": 1.6 });
    }
  });
  plot.append(svg);
  if (series.length > 1) {
    const legend = document.createElement("p");
    series.forEach((s, i) => {
      const span = document.createElement("span");
      span.style.color = COLORS[i % COLORS.length]!;
      span.style.marginRight = "12px";
      span.textContent = `■ ${s.name}`;
      legend.append(span);
    });
    plot.append(legend);
  }
}
