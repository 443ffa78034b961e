/**
 * The K-quants' per-sub-block searches, as ggml's reference quantizers (ggml-quants.c) compute them in f32 —
 * every product and sum rounded with Math.fround in the C expression's order, no fused multiply-adds:
 *   makeQkx2Quants  scale and min of an unsigned sub-block (Q4_K, Q5_K): a grid of candidate scales, each refit by
 *                   weighted least squares, the lowest weighted squared error kept;
 *   makeQxQuants    scale of a signed sub-block (Q6_K, rmse_type 1: weights x²): a grid of 19 candidate scales,
 *                   the best Σwxl²/Σwl² kept;
 *   getScaleMinK4 / packScaleMinK4  the 6-bit scale and min of sub-block j in Q4_K/Q5_K's 12 bytes of scales.
 */
import { clampInt, fr, nearestInt } from "./half.ts";

/**
 * Levels L[l0 + i] ∈ [0, nmax] for x[x0 + i], i < n, with weights w; returns [scale, −min] (min ≤ 0), so that
 * x ≈ scale·L − (−min). ggml's make_qkx2_quants(n, nmax, x, w, L, &the_min, Laux, rmin, rdelta, nstep, false).
 */
export function makeQkx2Quants(
  n: number,
  nmax: number,
  x: Float32Array,
  x0: number,
  w: Float32Array,
  L: Uint8Array,
  l0: number,
  rmin: number,
  rdelta: number,
  nstep: number,
): [number, number] {
  let min = x[x0]!;
  let max = x[x0]!;
  let sumW = w[0]!;
  let sumX = fr(sumW * x[x0]!);
  for (let i = 1; i < n; i++) {
    const xi = x[x0 + i]!;
    if (xi < min) min = xi;
    if (xi > max) max = xi;
    sumW = fr(sumW + w[i]!);
    sumX = fr(sumX + fr(w[i]! * xi));
  }
  if (min > 0) min = 0;
  if (max === min) {
    L.fill(0, l0, l0 + n);
    return [0, -min];
  }
  // As in ggml, `min` moves to each better fit and later candidates are placed against it (range and offsets).
  let iscale = fr(nmax / fr(max - min));
  let scale = fr(1 / iscale);
  let bestError = 0;
  for (let i = 0; i < n; i++) {
    const l = clampInt(nearestInt(fr(iscale * fr(x[x0 + i]! - min))), 0, nmax);
    L[l0 + i] = l;
    const diff = fr(fr(fr(scale * l) + min) - x[x0 + i]!);
    bestError = fr(bestError + fr(w[i]! * fr(diff * diff)));
  }
  const aux = new Uint8Array(n);
  for (let is = 0; is <= nstep; is++) {
    iscale = fr(fr(fr(rmin + fr(rdelta * is)) + nmax) / fr(max - min));
    let sumL = 0;
    let sumL2 = 0;
    let sumXL = 0;
    for (let i = 0; i < n; i++) {
      const l = clampInt(nearestInt(fr(iscale * fr(x[x0 + i]! - min))), 0, nmax);
      aux[i] = l;
      const wl = fr(w[i]! * l);
      sumL = fr(sumL + wl);
      sumL2 = fr(sumL2 + fr(wl * l));
      sumXL = fr(sumXL + fr(wl * x[x0 + i]!));
    }
    const D = fr(fr(sumW * sumL2) - fr(sumL * sumL));
    if (!(D > 0)) continue;
    let thisScale = fr(fr(fr(sumW * sumXL) - fr(sumX * sumL)) / D);
    let thisMin = fr(fr(fr(sumL2 * sumX) - fr(sumL * sumXL)) / D);
    if (thisMin > 0) {
      thisMin = 0;
      thisScale = fr(sumXL / sumL2);
    }
    let curError = 0;
    for (let i = 0; i < n; i++) {
      const diff = fr(fr(fr(thisScale * aux[i]!) + thisMin) - x[x0 + i]!);
      curError = fr(curError + fr(w[i]! * fr(diff * diff)));
    }
    if (curError < bestError) {
      L.set(aux, l0);
      bestError = curError;
      scale = thisScale;
      min = thisMin;
    }
  }
  return [scale, -min];
}

/** ggml's GROUP_MAX_EPS: a sub-block whose largest magnitude is below it is all zero. */
const GROUP_MAX_EPS = fr(1e-15);

/**
 * Levels L[l0 + i] = q + nmax, q ∈ [−nmax, nmax − 1], for x[x0 + i], i < n; returns the scale (x ≈ scale·q).
 * ggml's make_qx_quants(n, nmax, x, L, rmse_type = 1, qw = NULL): weights x².
 */
export function makeQxQuants(n: number, nmax: number, x: Float32Array, x0: number, L: Uint8Array, l0: number): number {
  let max = 0;
  let amax = 0;
  for (let i = 0; i < n; i++) {
    const ax = Math.abs(x[x0 + i]!);
    if (ax > amax) {
      amax = ax;
      max = x[x0 + i]!;
    }
  }
  if (amax < GROUP_MAX_EPS) {
    L.fill(0, l0, l0 + n);
    return 0;
  }
  const sums = (iscale: number, store: boolean): [number, number] => {
    let sumlx = 0;
    let suml2 = 0;
    for (let i = 0; i < n; i++) {
      const xi = x[x0 + i]!;
      const l = clampInt(nearestInt(fr(iscale * xi)), -nmax, nmax - 1);
      if (store) L[l0 + i] = l + nmax;
      const w = fr(xi * xi);
      sumlx = fr(sumlx + fr(fr(w * xi) * l));
      suml2 = fr(suml2 + fr(fr(w * l) * l));
    }
    return [sumlx, suml2];
  };
  let [sumlx, suml2] = sums(fr(-nmax / max), true);
  let scale = suml2 !== 0 ? fr(sumlx / suml2) : 0;
  let best = fr(scale * sumlx);
  for (let is = -9; is <= 9; is++) {
    if (is === 0) continue;
    const iscale = fr(-fr(nmax + fr(fr(0.1) * is)) / max);
    [sumlx, suml2] = sums(iscale, false);
    if (suml2 > 0 && fr(sumlx * sumlx) > fr(best * suml2)) {
      sums(iscale, true);
      scale = fr(sumlx / suml2);
      best = fr(scale * sumlx);
    }
  }
  return scale;
}

/** [scale, min] (6 bits each) of sub-block j < 8 from the 12 scale bytes at q[p …] (ggml's get_scale_min_k4). */
export function getScaleMinK4(j: number, q: Uint8Array, p: number): [number, number] {
  if (j < 4) return [q[p + j]! & 63, q[p + j + 4]! & 63];
  return [(q[p + j + 4]! & 0xf) | ((q[p + j - 4]! >>> 6) << 4), (q[p + j + 4]! >>> 4) | ((q[p + j]! >>> 6) << 4)];
}

/**
 * The 12 scale bytes at q[p …] from 8 scales ls and 8 mins lm (6 bits each), the layout getScaleMinK4 reads:
 * bytes 0–3 scales 0–3 (top bits: scales 4–7's high 2 bits), 4–7 mins 0–3 (top bits: mins 4–7's), 8–11 the low
 * nibbles of scales and mins 4–7.
 */
export function packScaleMinK4(q: Uint8Array, p: number, ls: Uint8Array, lm: Uint8Array): void {
  for (let j = 0; j < 8; j++) {
    if (j < 4) {
      q[p + j] = ls[j]!;
      q[p + j + 4] = lm[j]!;
    } else {
      q[p + j + 4] = (ls[j]! & 0xf) | ((lm[j]! & 0xf) << 4);
      q[p + j - 4] = q[p + j - 4]! | ((ls[j]! >>> 4) << 6);
      q[p + j] = q[p + j]! | ((lm[j]! >>> 4) << 6);
    }
  }
}
