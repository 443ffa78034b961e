/**
 * The one-time linear algebra of PiSSA / OLoRA initialisation (src/util/qr.ts, svd.ts, svd-lowrank.ts): QR with
 * LAPACK's sign convention (values from torch.linalg.qr in f64), an exact SVD (values from torch.linalg.svd,
 * reconstruction, orthonormality, the sign convention), and the randomized low-rank SVD recovering the leading
 * triplets of a matrix with a spectral gap.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { Rng } from "../../src/tensor/rng.ts";
import { householderQr } from "../../src/util/qr.ts";
import { svd } from "../../src/util/svd.ts";
import { svdLowRank } from "../../src/util/svd-lowrank.ts";

const A = Float64Array.from([1, 2, 3, 4, 5, 6.5, 7, 8, 10, -1, 0.5, 2]); // [4, 3]

function close(got: ArrayLike<number>, want: ArrayLike<number>, tol: number, what: string): void {
  assert.equal(got.length, want.length, `${what}: length`);
  for (let i = 0; i < got.length; i++) {
    assert.ok(Math.abs(got[i]! - want[i]!) <= tol, `${what}[${i}]: ${got[i]} vs ${want[i]}`);
  }
}

function matmul(a: Float64Array, b: Float64Array, m: number, k: number, n: number): Float64Array {
  const out = new Float64Array(m * n);
  for (let i = 0; i < m; i++)
    for (let t = 0; t < k; t++) for (let j = 0; j < n; j++) out[i * n + j]! += a[i * k + t]! * b[t * n + j]!;
  return out;
}

function gaussianMatrix(rng: Rng, n: number): Float64Array {
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) out[i] = Math.sqrt(-2 * Math.log(1 - rng.next())) * Math.cos(2 * Math.PI * rng.next());
  return out;
}

/** Columns of x [rows, k] orthonormal to 1e-12. */
function assertOrthonormalColumns(x: Float64Array, rows: number, k: number, what: string): void {
  for (let a = 0; a < k; a++) {
    for (let b = 0; b < k; b++) {
      let d = 0;
      for (let i = 0; i < rows; i++) d += x[i * k + a]! * x[i * k + b]!;
      assert.ok(Math.abs(d - (a === b ? 1 : 0)) < 1e-12, `${what}: column ${a}·${b} = ${d}`);
    }
  }
}

test("householderQr matches torch.linalg.qr (LAPACK signs) on a tall and a wide matrix", () => {
  const { q, r, k } = householderQr(A, 4, 3);
  assert.equal(k, 3);
  close(
    q,
    [
      -0.122169444356305, -0.444173330780502, 0.788110406239098, -0.488677777425221, -0.196536872026771,
      0.236433121871734, -0.855186110494137, 0.051099586726961, -0.315244162495642, 0.122169444356305,
      -0.872623711798861, -0.472866243743461,
    ],
    1e-12,
    "Q",
  );
  close(
    r,
    [
      -8.18535277187245, -9.468131937613656, -11.850436102561606, 0, -1.898546183778604, -3.844261216843631, 0, 0,
      -0.197027601559777,
    ],
    1e-12,
    "R",
  );
  close(matmul(q, r, 4, 3, 3), A, 1e-12, "QR");
  const at = Float64Array.from([1, 4, 7, -1, 2, 5, 8, 0.5, 3, 6.5, 10, 2]); // Aᵀ [3, 4]
  const wide = householderQr(at, 3, 4);
  close(
    wide.r.subarray(0, 8),
    [
      -3.741657386773941, -8.953251604066217, -14.16484582135849, -1.603567451474547, 0, 1.757636399909185,
      3.515272799818368, -1.625559676216585,
    ],
    1e-12,
    "wide R",
  );
  close(matmul(wide.q, wide.r, 3, 3, 4), at, 1e-12, "wide QR");
  assertOrthonormalColumns(wide.q, 3, 3, "wide Q");
});

test("svd: torch's singular values, reconstruction, orthonormal factors, largest entry of each u positive", () => {
  for (const [a, m, n] of [
    [A, 4, 3],
    [Float64Array.from([1, 4, 7, -1, 2, 5, 8, 0.5, 3, 6.5, 10, 2]), 3, 4],
  ] as const) {
    const f = svd(a, m, n);
    close(f.s, [17.632274007264982, 2.143910624840091, 0.080997317396061], 1e-12, `s [${m}, ${n}]`);
    const us = new Float64Array(m * f.k);
    for (let i = 0; i < m; i++) for (let c = 0; c < f.k; c++) us[i * f.k + c] = f.u[i * f.k + c]! * f.s[c]!;
    close(matmul(us, f.vt, m, f.k, n), a, 1e-12, "u·s·vt");
    assertOrthonormalColumns(f.u, m, f.k, "u");
    for (let c = 0; c < f.k; c++) {
      let best = 0;
      for (let i = 1; i < m; i++) if (Math.abs(f.u[i * f.k + c]!) > Math.abs(f.u[best * f.k + c]!)) best = i;
      assert.ok(f.u[best * f.k + c]! > 0, `u column ${c}: largest entry positive`);
    }
  }
});

test("svd of a random 40 x 25 matrix: reconstruction and orthonormal rows of vt", () => {
  const rng = new Rng(1);
  const a = gaussianMatrix(rng, 40 * 25);
  const f = svd(a, 40, 25);
  const us = new Float64Array(40 * 25);
  for (let i = 0; i < 40; i++) for (let c = 0; c < 25; c++) us[i * 25 + c] = f.u[i * 25 + c]! * f.s[c]!;
  close(matmul(us, f.vt, 40, 25, 25), a, 1e-11, "u·s·vt");
  const v = new Float64Array(25 * 25);
  for (let i = 0; i < 25; i++) for (let j = 0; j < 25; j++) v[j * 25 + i] = f.vt[i * 25 + j]!;
  assertOrthonormalColumns(v, 25, 25, "vtᵀ");
  for (let c = 1; c < 25; c++) assert.ok(f.s[c - 1]! >= f.s[c]!, "descending");
});

test("svdLowRank recovers the leading triplets of a matrix with a spectral gap (niter 2)", () => {
  const rng = new Rng(7);
  const m = 30;
  const n = 20;
  // a = Q1·diag(s)·Q2ᵀ with s = 10, 6, 3, then 1e-3 and below.
  const q1 = householderQr(gaussianMatrix(rng, m * n), m, n).q; // [30, 20]
  const q2 = householderQr(gaussianMatrix(rng, n * n), n, n).q; // [20, 20]
  const s = Array.from({ length: n }, (_, i) => (i < 3 ? [10, 6, 3][i]! : 1e-3 / (i + 1)));
  const scaled = new Float64Array(m * n);
  for (let i = 0; i < m; i++) for (let c = 0; c < n; c++) scaled[i * n + c] = q1[i * n + c]! * s[c]!;
  const q2t = new Float64Array(n * n);
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) q2t[j * n + i] = q2[i * n + j]!;
  const a = matmul(scaled, q2t, m, n, n);
  const exact = svd(a, m, n);
  const approx = svdLowRank(a, m, n, 3, 2, () => gaussianMatrix(rng, 1)[0]!);
  close(approx.s, exact.s.subarray(0, 3), 1e-9, "s");
  for (let c = 0; c < 3; c++) {
    close(
      Array.from({ length: m }, (_, i) => approx.u[i * 3 + c]!),
      Array.from({ length: m }, (_, i) => exact.u[i * n + c]!),
      1e-7,
      `u[:, ${c}]`,
    );
    close(approx.vt.subarray(c * n, c * n + n), exact.vt.subarray(c * n, c * n + n), 1e-7, `vt[${c}]`);
  }
  assert.throws(() => svdLowRank(a, m, n, 21, 2, () => 0), /rank 21 must be in \[1, 20\]/);
});
