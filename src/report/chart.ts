/**
 * Line charts as inline SVG strings, for the self-contained HTML report: no scripts, no fonts, no network.
 * A chart has one or more series of (x, y) points sharing the axes; non-finite y values are not drawn (the
 * chart says how many were left out), long series are downsampled to at most MAX_CHART_POINTS points, and
 * a single point or a constant series still gets a readable axis range. A y axis may be logarithmic, chosen
 * automatically when the values span more than LOG_SCALE_RATIO (a loss falling by orders of magnitude stays
 * readable instead of a cliff followed by a flat line).
 */

export const MAX_CHART_POINTS = 2000;

/** "auto" y axes turn logarithmic when every value is positive and the largest is this many times the smallest. */
export const LOG_SCALE_RATIO = 20;

export interface ChartSeries {
  name: string;
  /** x and y of the same length; y may hold NaN/±Infinity (not drawn, counted). */
  xs: readonly number[];
  ys: readonly number[];
  /** CSS color of the line. */
  color: string;
  /** Draw a dot at every point (sparse series such as eval results). */
  markers?: boolean;
}

export interface ChartSpec {
  title: string;
  xLabel: string;
  yLabel: string;
  series: ChartSeries[];
  width?: number;
  height?: number;
  /** Downsampling limit per series (default MAX_CHART_POINTS). */
  maxPoints?: number;
  /** y axis: linear (default), log, or auto (log when wantsLogScale says so). A log axis needs positive values. */
  yScale?: "linear" | "log" | "auto";
}

/** Whether an "auto" axis over these values is logarithmic: all finite values positive, max/min > LOG_SCALE_RATIO. */
export function wantsLogScale(values: readonly number[]): boolean {
  let lo = Number.POSITIVE_INFINITY;
  let hi = Number.NEGATIVE_INFINITY;
  for (const v of values) {
    if (!Number.isFinite(v)) continue;
    if (v <= 0) return false;
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  return hi > lo && hi / lo > LOG_SCALE_RATIO;
}

/**
 * Ticks of a log axis covering [lo, hi] (both > 0): the 1-2-5 values of each decade when the range spans at
 * most three decades, else the powers of ten (every k-th when there are many). The first tick is at or below
 * lo and the last at or above hi, so they also give the axis range.
 */
export function logTicks(lo: number, hi: number): number[] {
  const d0 = Math.floor(Math.log10(lo) + 1e-9);
  const d1 = Math.ceil(Math.log10(hi) - 1e-9);
  const mantissas = d1 - d0 <= 3 ? [1, 2, 5] : [1];
  const every = Math.max(1, Math.ceil((d1 - d0) / 8));
  const all: number[] = [];
  for (let d = d0; d <= d1; d++) {
    if ((d - d0) % every !== 0 && d !== d1) continue;
    for (const m of mantissas) all.push(Number((m * 10 ** d).toPrecision(12)));
  }
  // Trim to one tick at or below lo and one at or above hi.
  let first = 0;
  while (first + 1 < all.length && (all[first + 1] as number) <= lo * (1 + 1e-9)) first++;
  let last = all.length - 1;
  while (last - 1 >= 0 && (all[last - 1] as number) >= hi * (1 - 1e-9)) last--;
  return all.slice(first, last + 1);
}

/** Label of a log-axis tick: plain decimals between 0.01 and 10^5, exponent form outside. */
export function formatLogTick(v: number): string {
  if (v >= 1e5 || v < 1e-2) return Number(v.toPrecision(3)).toExponential();
  return String(Number(v.toPrecision(3)));
}

/** Escapes text for HTML/SVG content and double-quoted attribute values. */
export function escapeHtml(text: string): string {
  return text
    .replaceAll("&", "&amp;")
    .replaceAll("<", "&lt;")
    .replaceAll(">", "&gt;")
    .replaceAll('"', "&quot;")
    .replaceAll("'", "&#39;");
}

/**
 * Min-max decimation: splits the points into maxPoints/2 buckets of consecutive indices and keeps each
 * bucket's lowest and highest point, in x order, so spikes survive. Returns the input when already short.
 */
export function downsampleMinMax(
  xs: readonly number[],
  ys: readonly number[],
  maxPoints: number,
): { xs: number[]; ys: number[] } {
  const n = xs.length;
  if (n <= maxPoints) return { xs: [...xs], ys: [...ys] };
  const buckets = Math.max(1, Math.floor(maxPoints / 2));
  const ox: number[] = [];
  const oy: number[] = [];
  for (let b = 0; b < buckets; b++) {
    const start = Math.floor((b * n) / buckets);
    const end = Math.floor(((b + 1) * n) / buckets);
    let lo = start;
    let hi = start;
    for (let i = start + 1; i < end; i++) {
      if ((ys[i] as number) < (ys[lo] as number)) lo = i;
      if ((ys[i] as number) > (ys[hi] as number)) hi = i;
    }
    for (const i of lo === hi ? [lo] : [Math.min(lo, hi), Math.max(lo, hi)]) {
      ox.push(xs[i] as number);
      oy.push(ys[i] as number);
    }
  }
  return { xs: ox, ys: oy };
}

/** A "nice" tick spacing (1, 2 or 5 times a power of ten) giving about `target` intervals over `range`. */
export function niceStep(range: number, target: number): number {
  const raw = range / Math.max(1, target);
  const mag = 10 ** Math.floor(Math.log10(raw));
  const f = raw / mag;
  return Number(((f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * mag).toPrecision(12));
}

/** Multiples of `step` within [lo, hi], with floating-point noise rounded away. */
export function ticksIn(lo: number, hi: number, step: number): number[] {
  const out: number[] = [];
  for (let i = Math.ceil(lo / step - 1e-9); i * step <= hi + step * 1e-9; i++)
    out.push(Number((i * step).toPrecision(12)));
  return out;
}

/** Tick label: fixed decimals suited to the step, or exponent form for very small/large magnitudes. */
export function formatTick(v: number, step: number, magnitude: number): string {
  if (v === 0) return "0";
  if (magnitude >= 1e5 || magnitude < 1e-2) return Number(v.toPrecision(3)).toExponential();
  return v.toFixed(Math.max(0, -Math.floor(Math.log10(step) + 1e-9)));
}

interface Range {
  lo: number;
  hi: number;
}

/** Data range, widened when empty or degenerate (one point, constant series). */
function dataRange(values: number[], integer: boolean): Range {
  if (values.length === 0) return { lo: 0, hi: 1 };
  let lo = Number.POSITIVE_INFINITY;
  let hi = Number.NEGATIVE_INFINITY;
  for (const v of values) {
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  if (lo === hi) {
    const pad = integer ? 1 : Math.abs(lo) * 0.1 || 1;
    return { lo: lo - pad, hi: hi + pad };
  }
  return { lo, hi };
}

const W = 640;
const H = 300;
const M = { left: 70, right: 16, top: 34, bottom: 46 };

/** Renders the chart as an `<svg>` element string. */
export function lineChartSvg(spec: ChartSpec): string {
  const width = spec.width ?? W;
  const height = spec.height ?? H;
  const pw = width - M.left - M.right;
  const ph = height - M.top - M.bottom;
  const maxPoints = spec.maxPoints ?? MAX_CHART_POINTS;

  // Keep finite points only, then downsample each series.
  let dropped = 0;
  const drawn = spec.series.map((s) => {
    const fx: number[] = [];
    const fy: number[] = [];
    for (let i = 0; i < s.xs.length; i++) {
      const x = s.xs[i] as number;
      const y = s.ys[i] as number;
      if (Number.isFinite(x) && Number.isFinite(y)) {
        fx.push(x);
        fy.push(y);
      } else dropped++;
    }
    return { ...s, ...downsampleMinMax(fx, fy, maxPoints) };
  });

  const xr = dataRange(
    drawn.flatMap((s) => s.xs),
    true,
  );
  const ys = drawn.flatMap((s) => s.ys);
  const log =
    (spec.yScale === "log" && ys.length > 0 && ys.every((y) => y > 0)) || (spec.yScale === "auto" && wantsLogScale(ys));
  const y = log ? logAxis(ys) : linearAxis(ys);
  const xStep = Math.max(1, niceStep(xr.hi - xr.lo, 6));
  const sx = (x: number) => (M.left + ((x - xr.lo) / (xr.hi - xr.lo)) * pw).toFixed(1);
  const sy = (v: number) => (M.top + ph - ((y.map(v) - y.lo) / (y.hi - y.lo)) * ph).toFixed(1);

  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${width} ${height}" role="img" aria-label="${escapeHtml(spec.title)}" font-family="system-ui, sans-serif" font-size="11">`,
    `<text x="${M.left}" y="18" font-size="13" font-weight="600" fill="currentColor">${escapeHtml(spec.title)}</text>`,
  ];
  const yLabel = log ? `${spec.yLabel} (log scale)` : spec.yLabel;
  parts.push(...axes(sx, sy, xr, y.ticks, xStep, { width, height, pw, ph }, { ...spec, yLabel }));

  const empty = drawn.every((s) => s.xs.length === 0);
  if (empty) {
    parts.push(
      `<text x="${M.left + pw / 2}" y="${M.top + ph / 2}" text-anchor="middle" fill="currentColor" opacity="0.6">no data</text>`,
    );
  }
  for (const s of drawn) {
    if (s.xs.length === 0) continue;
    const pts = s.xs.map((x, i) => `${sx(x)},${sy(s.ys[i] as number)}`);
    const name = escapeHtml(s.name);
    parts.push(
      `<polyline data-series="${name}" fill="none" stroke="${s.color}" stroke-width="1.5" stroke-linejoin="round" points="${pts.join(" ")}"/>`,
    );
    if (s.markers || s.xs.length === 1) {
      for (const p of pts) {
        const [cx, cy] = p.split(",");
        parts.push(`<circle cx="${cx}" cy="${cy}" r="2.5" fill="${s.color}"/>`);
      }
    }
  }
  if (drawn.length > 1) parts.push(...legend(drawn, width));
  if (dropped > 0) {
    parts.push(
      `<text x="${width - M.right}" y="${height - 6}" text-anchor="end" fill="#c0392b">${dropped} non-finite value${dropped === 1 ? "" : "s"} not drawn</text>`,
    );
  }
  parts.push("</svg>");
  return parts.join("\n");
}

/** A y axis: the transform into axis space (identity, or log10), its range there, and labelled ticks. */
interface YAxis {
  map: (v: number) => number;
  lo: number;
  hi: number;
  ticks: { value: number; label: string }[];
}

function linearAxis(values: number[]): YAxis {
  const data = dataRange(values, false);
  const step = niceStep(data.hi - data.lo, 5);
  const lo = Math.floor(data.lo / step + 1e-9) * step;
  const hi = Math.ceil(data.hi / step - 1e-9) * step;
  const mag = Math.max(Math.abs(lo), Math.abs(hi));
  return {
    map: (v) => v,
    lo,
    hi,
    ticks: ticksIn(lo, hi, step).map((t) => ({ value: t, label: formatTick(t, step, mag) })),
  };
}

function logAxis(values: number[]): YAxis {
  const data = dataRange(values, false);
  const ticks = logTicks(data.lo, data.hi);
  return {
    map: Math.log10,
    lo: Math.log10(ticks[0] as number),
    hi: Math.log10(ticks[ticks.length - 1] as number),
    ticks: ticks.map((t) => ({ value: t, label: formatLogTick(t) })),
  };
}

/** Frame, grid lines, tick labels and axis labels (x ticks are whole steps, printed as integers). */
function axes(
  sx: (x: number) => string,
  sy: (y: number) => string,
  xr: Range,
  yTicks: { value: number; label: string }[],
  xStep: number,
  box: { width: number; height: number; pw: number; ph: number },
  spec: ChartSpec,
): string[] {
  const out: string[] = [
    `<rect x="${M.left}" y="${M.top}" width="${box.pw}" height="${box.ph}" fill="none" stroke="currentColor" stroke-opacity="0.35"/>`,
  ];
  const bottom = M.top + box.ph;
  for (const t of yTicks) {
    const y = sy(t.value);
    out.push(
      `<line x1="${M.left}" x2="${M.left + box.pw}" y1="${y}" y2="${y}" stroke="currentColor" stroke-opacity="0.12"/>`,
      `<text x="${M.left - 6}" y="${y}" dy="0.32em" text-anchor="end" fill="currentColor">${t.label}</text>`,
    );
  }
  for (const t of ticksIn(xr.lo, xr.hi, xStep)) {
    const x = sx(t);
    out.push(
      `<line x1="${x}" x2="${x}" y1="${bottom}" y2="${bottom + 4}" stroke="currentColor" stroke-opacity="0.5"/>`,
      `<text x="${x}" y="${bottom + 16}" text-anchor="middle" fill="currentColor">${t}</text>`,
    );
  }
  out.push(
    `<text x="${M.left + box.pw / 2}" y="${box.height - 6}" text-anchor="middle" fill="currentColor">${escapeHtml(spec.xLabel)}</text>`,
    `<text transform="translate(14 ${M.top + box.ph / 2}) rotate(-90)" text-anchor="middle" fill="currentColor">${escapeHtml(spec.yLabel)}</text>`,
  );
  return out;
}

/** Legend in the top-right corner: a short colored line and the series name per entry. */
function legend(series: { name: string; color: string }[], width: number): string[] {
  const out: string[] = [];
  let x = width - M.right;
  for (let i = series.length - 1; i >= 0; i--) {
    const s = series[i] as { name: string; color: string };
    x -= 7 * s.name.length + 30;
    out.push(
      `<line x1="${x}" x2="${x + 18}" y1="14" y2="14" stroke="${s.color}" stroke-width="2"/>`,
      `<text x="${x + 22}" y="14" dy="0.32em" fill="currentColor">${escapeHtml(s.name)}</text>`,
    );
  }
  return out;
}
