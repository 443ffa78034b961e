/**
 * Householder QR of a dense matrix in f64, with LAPACK's conventions (dgeqrf/dorgqr, as torch.linalg.qr returns):
 * each reflector H = I − τ·v·vᵀ has v[0] = 1 and maps the column to β·e₁ with β = −sign(α)·‖x‖ (α the diagonal
 * entry), so R's diagonal carries the opposite sign of the column's leading entry; a column already zero below
 * the diagonal gets τ = 0 (H = I, R[j, j] = α). For a one-time initialisation (OLoRA, orthonormal bases in the
 * randomized SVD), not a hot kernel.
 */

/** a [m, n] row-major → the reduced factors Q [m, k] (orthonormal columns) and R [k, n] (upper), k = min(m, n). */
export function householderQr(a: Float64Array, m: number, n: number): { q: Float64Array; r: Float64Array; k: number } {
  if (a.length !== m * n) throw new Error(`householderQr: ${a.length} values for [${m}, ${n}]`);
  const k = Math.min(m, n);
  const w = Float64Array.from(a); // reduced in place to R (upper part); reflectors kept in vs / taus
  const vs: Float64Array[] = [];
  const taus = new Float64Array(k);
  for (let j = 0; j < k; j++) {
    const { v, tau, beta } = reflector(w, m, n, j);
    vs.push(v);
    taus[j] = tau;
    if (tau !== 0) applyReflector(w, m, n, j, v, tau, j + 1);
    w[j * n + j] = beta;
    for (let i = j + 1; i < m; i++) w[i * n + j] = 0;
  }
  const r = new Float64Array(k * n);
  for (let i = 0; i < k; i++) for (let j = i; j < n; j++) r[i * n + j] = w[i * n + j]!;
  // Q = H₀·H₁·…·H_{k−1}·I[:, :k], built backwards as dorgqr does.
  const q = new Float64Array(m * k);
  for (let i = 0; i < k; i++) q[i * k + i] = 1;
  for (let j = k - 1; j >= 0; j--) if (taus[j] !== 0) applyReflector(q, m, k, j, vs[j]!, taus[j]!, j);
  return { q, r, k };
}

/** LAPACK's dlarfg on column j of w [m, n], rows j..m−1: v (v[0] = 1), τ and β. */
function reflector(w: Float64Array, m: number, n: number, j: number): { v: Float64Array; tau: number; beta: number } {
  const alpha = w[j * n + j]!;
  let xnorm2 = 0;
  for (let i = j + 1; i < m; i++) xnorm2 += w[i * n + j]! ** 2;
  const v = new Float64Array(m - j);
  v[0] = 1;
  if (xnorm2 === 0) return { v, tau: 0, beta: alpha };
  const beta = -(alpha >= 0 ? 1 : -1) * Math.hypot(alpha, Math.sqrt(xnorm2));
  const tau = (beta - alpha) / beta;
  const inv = 1 / (alpha - beta);
  for (let i = j + 1; i < m; i++) v[i - j] = w[i * n + j]! * inv;
  return { v, tau, beta };
}

/** w[j.., c..] ← (I − τ·v·vᵀ)·w[j.., c..] for every column c ≥ c0 of w [m, cols]. */
function applyReflector(w: Float64Array, m: number, cols: number, j: number, v: Float64Array, tau: number, c0: number) {
  for (let c = c0; c < cols; c++) {
    let dot = 0;
    for (let i = j; i < m; i++) dot += v[i - j]! * w[i * cols + c]!;
    const f = tau * dot;
    if (f === 0) continue;
    for (let i = j; i < m; i++) w[i * cols + c]! -= f * v[i - j]!;
  }
}
