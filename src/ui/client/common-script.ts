/**
 * The page script's shared helpers (plain browser JavaScript, served as part of /assets/app.js): `api()` for the
 * JSON API (the session cookie rides along; an error response throws its message), element helpers, and
 * `drawChart()`, a line chart as SVG whose figure carries `data-points` (the points drawn, read by tests).
 * Written without template literals so it can live in a TypeScript string.
 */
export const COMMON_SCRIPT = `
"use strict";
const $ = (sel, root) => (root || document).querySelector(sel);
const $$ = (sel, root) => Array.from((root || document).querySelectorAll(sel));

async function api(method, path, body) {
  const init = { method: method, credentials: "same-origin", headers: {} };
  if (body !== undefined) {
    init.headers["content-type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const res = await fetch(path, init);
  const data = await res.json().catch(() => ({ error: "HTTP " + res.status }));
  if (!res.ok) {
    const err = new Error(data.error || "HTTP " + res.status);
    err.data = data;
    throw err;
  }
  return data;
}

function h(tag, attrs, children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
  for (const c of [].concat(children || [])) node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return node;
}

function fmt(v, digits) {
  if (v === null || v === undefined || !Number.isFinite(v)) return "–";
  return String(Number(v.toPrecision(digits || 4)));
}

function fmtSeconds(s) {
  if (s === null || s === undefined) return "–";
  if (s < 90) return Math.round(s) + " s";
  if (s < 5400) return Math.round(s / 60) + " min";
  return (s / 3600).toFixed(1) + " h";
}

const SVG_NS = "http://www.w3.org/2000/svg";
const COLORS = ["#1f5fbf", "#c0392b", "#2e8b57", "#8e44ad", "#d35400", "#16a085"];

/** series: [{ name, points: [[x, y], ...] }]; draws them on shared axes into figure.plot. */
function drawChart(figure, series) {
  const W = 560, H = 220, L = 52, R = 10, T = 10, B = 28;
  const all = series.flatMap((s) => s.points).filter((p) => Number.isFinite(p[1]));
  const plot = $(".plot", figure);
  figure.dataset.points = String(all.length);
  plot.textContent = "";
  if (all.length === 0) {
    plot.append(h("p", {}, "No points yet."));
    return;
  }
  const xs = all.map((p) => p[0]), ys = all.map((p) => p[1]);
  let x0 = Math.min(...xs), x1 = Math.max(...xs), y0 = Math.min(...ys), y1 = Math.max(...ys);
  if (x1 === x0) x1 = x0 + 1;
  if (y1 === y0) { y0 -= Math.abs(y0) * 0.05 + 1e-9; y1 += Math.abs(y1) * 0.05 + 1e-9; }
  const sx = (x) => L + ((x - x0) / (x1 - x0)) * (W - L - R);
  const sy = (y) => T + (1 - (y - y0) / (y1 - y0)) * (H - T - B);
  const svg = document.createElementNS(SVG_NS, "svg");
  svg.setAttribute("viewBox", "0 0 " + W + " " + H);
  svg.setAttribute("role", "img");
  svg.setAttribute("aria-label", ($("figcaption", figure) || { textContent: "chart" }).textContent + ": " + all.length + " points");
  const add = (tag, attrs, text) => {
    const n = document.createElementNS(SVG_NS, tag);
    for (const [k, v] of Object.entries(attrs)) n.setAttribute(k, v);
    if (text !== undefined) n.textContent = text;
    svg.append(n);
  };
  add("line", { x1: L, y1: H - B, x2: W - R, y2: H - B, stroke: "#999" });
  add("line", { x1: L, y1: T, x2: L, y2: H - B, stroke: "#999" });
  for (const y of [y0, (y0 + y1) / 2, y1]) add("text", { x: L - 4, y: sy(y) + 4, "text-anchor": "end", "font-size": 11 }, fmt(y, 3));
  for (const x of [x0, x1]) add("text", { x: sx(x), y: H - 8, "text-anchor": "middle", "font-size": 11 }, fmt(x, 4));
  series.forEach((s, i) => {
    const pts = s.points.filter((p) => Number.isFinite(p[1])).map((p) => sx(p[0]).toFixed(1) + "," + sy(p[1]).toFixed(1));
    const color = COLORS[i % COLORS.length];
    if (pts.length === 1) { const [cx, cy] = pts[0].split(","); add("circle", { cx: cx, cy: cy, r: 3, fill: color }); }
    else add("polyline", { points: pts.join(" "), fill: "none", stroke: color, "stroke-width": 1.6 });
  });
  plot.append(svg);
  if (series.length > 1) {
    const legend = h("p", {}, []);
    series.forEach((s, i) => legend.append(h("span", { style: "color:" + COLORS[i % COLORS.length] + ";margin-right:12px" }, "■ " + s.name)));
    plot.append(legend);
  }
}
`;
