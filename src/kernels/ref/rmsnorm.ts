/**
 * Reference RMSNorm over rows x[N,C]: y = x · r · w with r = 1/sqrt(mean(x²) + eps), r saved per row.
 * Backward (derivation in docs/backward.md), with g = dout:
 *   dx_j = r·w_j·g_j − (r³/C) · x_j · Σ_i g_i·w_i·x_i,   dweight_j += Σ_rows g_j·x_j·r.
 */

/** out[N,C] = x·rstd·weight; rstd[N] saved. `out` may alias `x`. */
export function rmsnormForward(
  out: Float32Array,
  rstd: Float32Array,
  x: Float32Array,
  weight: Float32Array,
  N: number,
  C: number,
  eps: number,
): void {
  for (let n = 0; n < N; n++) {
    const o = n * C;
    let ss = 0;
    for (let c = 0; c < C; c++) ss += x[o + c]! * x[o + c]!;
    const r = Math.fround(1 / Math.sqrt(ss / C + eps)); // the saved f32 value is the one used
    rstd[n] = r;
    // Each element is read before it is written, so in-place (out === x) is safe.
    for (let c = 0; c < C; c++) out[o + c] = x[o + c]! * r * weight[c]!;
  }
}

/** dx[N,C] overwritten; dweight[C] += … unless null. `dx` may alias `dout`. */
export function rmsnormBackward(
  dx: Float32Array,
  dweight: Float32Array | null,
  dout: Float32Array,
  x: Float32Array,
  weight: Float32Array,
  rstd: Float32Array,
  N: number,
  C: number,
): void {
  for (let n = 0; n < N; n++) {
    const o = n * C;
    const r = rstd[n]!;
    let gwx = 0; // Σ_i g_i·w_i·x_i
    for (let c = 0; c < C; c++) gwx += dout[o + c]! * weight[c]! * x[o + c]!;
    if (dweight !== null) {
      for (let c = 0; c < C; c++) dweight[c] = dweight[c]! + dout[o + c]! * x[o + c]! * r;
    }
    const k = (r * r * r * gwx) / C;
    // dout is fully consumed for this row above except element c, read before dx[c] is written: alias-safe.
    for (let c = 0; c < C; c++) dx[o + c] = r * weight[c]! * dout[o + c]! - k * x[o + c]!;
  }
}
