/**
 * Singular value decomposition of a dense matrix in f64 by one-sided Jacobi rotations (Hestenes): the columns of
 * the taller orientation are rotated pairwise until all are orthogonal; their norms are the singular values.
 * Accurate to a few ulps of the largest singular value, O(min(m,n)²·max(m,n)) per sweep (a handful of sweeps):
 * for a one-time initialisation (PiSSA's exact SVD), not a hot kernel.
 *
 * Signs: a singular pair (uᵢ, vᵢ) is only defined up to a common sign. The result is normalised so that the
 * entry of largest magnitude of each uᵢ is positive (the first such entry on a tie): a convention of this file,
 * applied by the golden generator to PyTorch's SVD too (products uᵢ·σᵢ·vᵢᵀ do not depend on it).
 */

export interface Svd {
  /** [m, k] left singular vectors (columns). */
  u: Float64Array;
  /** [k] singular values, descending. */
  s: Float64Array;
  /** [k, n] right singular vectors (rows). */
  vt: Float64Array;
  k: number;
}

/** a [m, n] row-major → its thin SVD a = u·diag(s)·vt, k = min(m, n). */
export function svd(a: Float64Array, m: number, n: number): Svd {
  if (a.length !== m * n) throw new Error(`svd: ${a.length} values for [${m}, ${n}]`);
  if (m >= n) return tallSvd(a, m, n);
  // a = (aᵀ)ᵀ: aᵀ [n, m] is tall; aᵀ = U'·S·V'ᵀ gives a = V'·S·U'ᵀ.
  const t = transpose(a, m, n);
  const f = tallSvd(t, n, m);
  return normaliseSigns({ u: transpose(f.vt, f.k, m), s: f.s, vt: transpose(f.u, n, f.k), k: f.k }, m, n);
}

/** One-sided Jacobi on a tall a [m, n] (m ≥ n), columns kept as rows of g = aᵀ for contiguous access. */
function tallSvd(a: Float64Array, m: number, n: number): Svd {
  const g = transpose(a, m, n); // [n, m]: row i = column i of a
  const v = new Float64Array(n * n); // rows: the rotations applied so far (= Vᵀ)
  for (let i = 0; i < n; i++) v[i * n + i] = 1;
  const eps = 1e-15;
  for (let sweep = 0; sweep < 80; sweep++) {
    let rotated = false;
    for (let p = 0; p < n - 1; p++) {
      for (let q = p + 1; q < n; q++) {
        const alpha = dot(g, p * m, p * m, m);
        const beta = dot(g, q * m, q * m, m);
        const gamma = dot(g, p * m, q * m, m);
        if (gamma === 0 || Math.abs(gamma) <= eps * Math.sqrt(alpha * beta)) continue;
        rotated = true;
        const zeta = (beta - alpha) / (2 * gamma);
        const t = (zeta >= 0 ? 1 : -1) / (Math.abs(zeta) + Math.sqrt(1 + zeta * zeta));
        const c = 1 / Math.sqrt(1 + t * t);
        rotate(g, p * m, q * m, m, c, c * t);
        rotate(v, p * n, q * n, n, c, c * t);
      }
    }
    if (!rotated) break;
  }
  const norms = Array.from({ length: n }, (_, i) => Math.sqrt(dot(g, i * m, i * m, m)));
  const order = norms.map((_, i) => i).sort((x, y) => norms[y]! - norms[x]! || x - y);
  const u = new Float64Array(m * n);
  const s = new Float64Array(n);
  const vt = new Float64Array(n * n);
  order.forEach((src, dst) => {
    const sigma = norms[src]!;
    s[dst] = sigma;
    for (let i = 0; i < m; i++) u[i * n + dst] = sigma > 0 ? g[src * m + i]! / sigma : 0;
    vt.set(v.subarray(src * n, src * n + n), dst * n);
  });
  return normaliseSigns({ u, s, vt, k: n }, m, n);
}

/** Flips (uᵢ, vᵢ) so the largest-magnitude entry of uᵢ is positive (the file's sign convention). */
export function normaliseSigns(f: Svd, m: number, n: number): Svd {
  for (let c = 0; c < f.k; c++) {
    let best = 0;
    for (let i = 1; i < m; i++) if (Math.abs(f.u[i * f.k + c]!) > Math.abs(f.u[best * f.k + c]!)) best = i;
    if (f.u[best * f.k + c]! >= 0) continue;
    for (let i = 0; i < m; i++) f.u[i * f.k + c] = -f.u[i * f.k + c]!;
    for (let j = 0; j < n; j++) f.vt[c * n + j] = -f.vt[c * n + j]!;
  }
  return f;
}

function dot(a: Float64Array, i0: number, j0: number, len: number): number {
  let s = 0;
  for (let t = 0; t < len; t++) s += a[i0 + t]! * a[j0 + t]!;
  return s;
}

/** Rows (x, y) ← (c·x − s·y, s·x + c·y). */
function rotate(a: Float64Array, i0: number, j0: number, len: number, c: number, s: number): void {
  for (let t = 0; t < len; t++) {
    const x = a[i0 + t]!;
    const y = a[j0 + t]!;
    a[i0 + t] = c * x - s * y;
    a[j0 + t] = s * x + c * y;
  }
}

/** [m, n] → [n, m]. */
export function transpose(a: Float64Array, m: number, n: number): Float64Array {
  const t = new Float64Array(m * n);
  for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) t[j * m + i] = a[i * n + j]!;
  return t;
}
