/**
 * The frame of every UI page: a skip link, the navigation, the page's main content, and the one script
 * (/assets/app.js) whose behaviour each page switches on through `data-page`. Styles fit 1280 px and narrow
 * windows (one column below 760 px); focus is always visible.
 */
import { escapeHtml } from "../../report/chart.ts";

export { escapeHtml };

const NAV = [
  ["/", "Runs"],
  ["/new", "New run"],
  ["/compare", "Compare"],
  ["/playground", "Playground"],
  ["/webgpu/", "Train in the browser"],
] as const;

export const CSS = `
:root { --fg:#1d2430; --muted:#5c6675; --line:#d8dde5; --bg:#fff; --accent:#1f5fbf; --trained:#c9f0d2; --masked:#eceff3;
  --bad:#b3261e; font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--fg); }
body { margin: 0; background: var(--bg); }
.skip { position: absolute; left: -999px; } .skip:focus { left: 8px; top: 8px; background: #fff; padding: 6px; z-index: 2; }
header { display: flex; gap: 18px; align-items: center; padding: 10px 20px; border-bottom: 1px solid var(--line); flex-wrap: wrap; }
header strong { font-size: 17px; } nav a { margin-right: 14px; color: var(--accent); text-decoration: none; }
nav a[aria-current="page"] { font-weight: 700; text-decoration: underline; }
main { padding: 16px 20px; max-width: 1240px; }
h1 { font-size: 22px; margin: 6px 0 14px; } h2 { font-size: 17px; margin: 18px 0 8px; }
:focus-visible { outline: 3px solid var(--accent); outline-offset: 2px; }
table { border-collapse: collapse; width: 100%; } th, td { border-bottom: 1px solid var(--line); padding: 6px 8px; text-align: left; }
td.num { text-align: right; font-variant-numeric: tabular-nums; } th { color: var(--muted); font-weight: 600; }
.grid { display: grid; grid-template-columns: minmax(0, 1fr) minmax(0, 1fr); gap: 18px; }
.fields { display: grid; grid-template-columns: repeat(auto-fill, minmax(260px, 1fr)); gap: 10px 18px; }
.field label { display: block; font-weight: 600; font-size: 14px; } .field small { display: block; color: var(--muted); font-size: 12px; }
.field input, .field select, textarea { width: 100%; box-sizing: border-box; padding: 5px; font: inherit; }
.field input[type=checkbox] { width: auto; }
.error { color: var(--bad); font-size: 13px; white-space: pre-wrap; } .error:empty { display: none; }
button, .button { font: inherit; padding: 6px 14px; border: 1px solid var(--accent); background: var(--accent); color: #fff; border-radius: 4px; cursor: pointer; }
button.secondary { background: #fff; color: var(--accent); } button:disabled { opacity: .5; cursor: default; }
.tok-trained { background: var(--trained); } .tok-masked { background: var(--masked); color: var(--muted); }
.row-preview { font-family: ui-monospace, Menlo, Consolas, monospace; font-size: 12px; white-space: pre-wrap; border: 1px solid var(--line); padding: 6px; margin: 6px 0; }
.chart svg { width: 100%; height: auto; border: 1px solid var(--line); } .chart { margin: 0 0 10px; }
.cards { display: flex; gap: 12px; flex-wrap: wrap; } .card { border: 1px solid var(--line); border-radius: 6px; padding: 8px 12px; min-width: 120px; }
.card .k { color: var(--muted); font-size: 12px; } .card .v { font-size: 18px; font-weight: 600; }
.out { white-space: pre-wrap; font-family: ui-monospace, Menlo, Consolas, monospace; font-size: 13px; border: 1px solid var(--line); min-height: 80px; padding: 8px; }
.actions { display: flex; gap: 10px; flex-wrap: wrap; margin: 10px 0; } code { font-size: 12px; word-break: break-all; }
.diff { background: #fff4d6; }
.turn-user { color: var(--muted); margin-top: 6px; } .turn-model { margin-bottom: 6px; }
@media (max-width: 760px) { .grid { grid-template-columns: minmax(0, 1fr); } main { padding: 10px; } th, td { padding: 4px; } .wide { display: none; } }
`;

/** A whole page: `page` names the script's behaviour, `body` is trusted HTML (escape anything read). */
export function layout(title: string, path: string, page: string, body: string): string {
  const links = NAV.map(
    ([href, label]) => `<a href="${href}"${href === path ? ' aria-current="page"' : ""}>${label}</a>`,
  ).join("");
  return `<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)} · loratune</title><link rel="stylesheet" href="/assets/app.css"></head>
<body data-page="${page}">
<a class="skip" href="#main">Skip to content</a>
<header><strong>loratune</strong><nav aria-label="Main">${links}</nav></header>
<main id="main"><h1>${escapeHtml(title)}</h1>
${body}
</main>
<script src="/assets/app.js"></script>
</body>
</html>
`;
}

/** A number to show: 4 significant digits, or "–" for none. */
export function num(v: number | null | undefined, digits = 4): string {
  return v === null || v === undefined || !Number.isFinite(v) ? "–" : String(Number(v.toPrecision(digits)));
}

/** A sparkline of [x, y] points as inline SVG (the Runs table's loss column). */
export function sparkline(points: [number, number][], label: string): string {
  if (points.length < 2) return "";
  const xs = points.map((p) => p[0]);
  const ys = points.map((p) => p[1]);
  const [x0, x1] = [Math.min(...xs), Math.max(...xs)];
  const [y0, y1] = [Math.min(...ys), Math.max(...ys)];
  const pts = points
    .map(
      ([x, y]) =>
        `${((100 * (x - x0)) / (x1 - x0 || 1)).toFixed(1)},${(22 - (20 * (y - y0)) / (y1 - y0 || 1)).toFixed(1)}`,
    )
    .join(" ");
  return `<svg viewBox="0 0 100 24" width="120" height="24" role="img" aria-label="${escapeHtml(label)}"><polyline fill="none" stroke="#1f5fbf" stroke-width="1.5" points="${pts}"/></svg>`;
}
