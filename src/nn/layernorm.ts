/**
 * LayerNorm with a bias (GPT-2's ln_1, ln_2, ln_f), forward and backward, over rows of width C:
 *   out = (x − mean) · rstd · w + b,   rstd = 1 / sqrt(var + eps),   var the biased (1/C) variance.
 * Plain TypeScript (its cost is O(N·C), small beside the linears'); the sums run in f64.
 */

/** out[N, C] = layernorm(x[N, C]) · w[C] + b[C]; saves each row's mean[N] and rstd[N]. `out` may alias `x`. */
export function layerNormForward(
  out: Float32Array,
  mean: Float32Array,
  rstd: Float32Array,
  x: Float32Array,
  w: Float32Array,
  b: Float32Array,
  N: number,
  C: number,
  eps: number,
): void {
  for (let i = 0; i < N; i++) {
    const o = i * C;
    let sum = 0;
    for (let j = 0; j < C; j++) sum += x[o + j]!;
    const mu = sum / C;
    let sq = 0;
    for (let j = 0; j < C; j++) {
      const d = x[o + j]! - mu;
      sq += d * d;
    }
    const r = 1 / Math.sqrt(sq / C + eps);
    mean[i] = mu;
    rstd[i] = r;
    for (let j = 0; j < C; j++) out[o + j] = (x[o + j]! - mu) * r * w[j]! + b[j]!;
  }
}

/**
 * dx[N, C] (overwritten) from dout[N, C] and the forward's x, mean and rstd:
 *   dx = rstd · (g − mean(g) − x̂ · mean(g · x̂)),   g = dout · w,   x̂ = (x − mean) · rstd.
 * dw[C] += Σ dout · x̂ and db[C] += Σ dout when they are non-null (the norm trains). `dx` may alias `dout`.
 */
export function layerNormBackward(
  dx: Float32Array,
  dw: Float32Array | null,
  db: Float32Array | null,
  dout: Float32Array,
  x: Float32Array,
  w: Float32Array,
  mean: Float32Array,
  rstd: Float32Array,
  N: number,
  C: number,
): void {
  for (let i = 0; i < N; i++) {
    const o = i * C;
    const mu = mean[i]!;
    const r = rstd[i]!;
    let gMean = 0;
    let gxMean = 0;
    for (let j = 0; j < C; j++) {
      const g = dout[o + j]! * w[j]!;
      const xh = (x[o + j]! - mu) * r;
      gMean += g;
      gxMean += g * xh;
      if (dw) dw[j]! += dout[o + j]! * xh;
      if (db) db[j]! += dout[o + j]!;
    }
    gMean /= C;
    gxMean /= C;
    for (let j = 0; j < C; j++) {
      const xh = (x[o + j]! - mu) * r;
      dx[o + j] = r * (dout[o + j]! * w[j]! - gMean - xh * gxMean);
    }
  }
}
