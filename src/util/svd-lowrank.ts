/**
 * A rank-q SVD by randomized subspace iteration (Halko, Martinsson & Tropp 2011, Alg. 4.4; what torch.svd_lowrank
 * computes, without oversampling, as PEFT's `pissa_niter_N` calls it with q = r): a Gaussian test matrix
 * Ω [n, q], Q = orth(a·Ω), then `niter` times Q = orth(a·orth(aᵀ·Q)), and the exact SVD of the small Qᵀ·a
 * [q, n]. With niter ≥ 2 the leading singular triplets of a matrix with a spectral gap are close to the exact
 * ones at O(m·n·q·niter) cost instead of a full SVD's O(min(m,n)²·max(m,n)). The draws come from `gaussian`
 * (seeded by the caller), so a run repeats exactly. Signs as svd.ts normalises them.
 */
import { householderQr } from "./qr.ts";
import { normaliseSigns, type Svd, svd } from "./svd.ts";

/** a [m, n] row-major → u [m, q], s [q], vt [q, n] with a ≈ u·diag(s)·vt; q ≤ min(m, n). */
export function svdLowRank(
  a: Float64Array,
  m: number,
  n: number,
  q: number,
  niter: number,
  gaussian: () => number,
): Svd {
  if (!(Number.isInteger(q) && q >= 1 && q <= Math.min(m, n))) {
    throw new Error(`svdLowRank: rank ${q} must be in [1, ${Math.min(m, n)}] for a [${m}, ${n}] matrix`);
  }
  const omega = new Float64Array(n * q);
  for (let i = 0; i < omega.length; i++) omega[i] = gaussian();
  let basis = orth(matmul(a, omega, m, n, q, false), m, q); // [m, q]
  for (let it = 0; it < niter; it++) {
    const back = orth(matmul(a, basis, m, n, q, true), n, q); // orth(aᵀ·Q) [n, q]
    basis = orth(matmul(a, back, m, n, q, false), m, q);
  }
  // b = Qᵀ·a [q, n]; b = ub·s·vt, so a ≈ (Q·ub)·s·vt.
  const b = new Float64Array(q * n);
  for (let i = 0; i < m; i++) {
    for (let c = 0; c < q; c++) {
      const f = basis[i * q + c]!;
      if (f === 0) continue;
      for (let j = 0; j < n; j++) b[c * n + j]! += f * a[i * n + j]!;
    }
  }
  const small = svd(b, q, n);
  const u = new Float64Array(m * q);
  for (let i = 0; i < m; i++) {
    for (let c = 0; c < q; c++) {
      let s = 0;
      for (let t = 0; t < q; t++) s += basis[i * q + t]! * small.u[t * q + c]!;
      u[i * q + c] = s;
    }
  }
  return normaliseSigns({ u, s: small.s, vt: small.vt, k: q }, m, n);
}

/** a·x ([m, n]·[n, q] → [m, q]) or, with `transposeA`, aᵀ·x ([n, m]·[m, q] → [n, q]). */
function matmul(a: Float64Array, x: Float64Array, m: number, n: number, q: number, transposeA: boolean): Float64Array {
  if (!transposeA) {
    const out = new Float64Array(m * q);
    for (let i = 0; i < m; i++) {
      for (let j = 0; j < n; j++) {
        const f = a[i * n + j]!;
        for (let c = 0; c < q; c++) out[i * q + c]! += f * x[j * q + c]!;
      }
    }
    return out;
  }
  const out = new Float64Array(n * q);
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      const f = a[i * n + j]!;
      for (let c = 0; c < q; c++) out[j * q + c]! += f * x[i * q + c]!;
    }
  }
  return out;
}

/** An orthonormal basis [rows, q] of the columns of x [rows, q] (QR's Q). */
function orth(x: Float64Array, rows: number, q: number): Float64Array {
  return householderQr(x, rows, q).q;
}
