/** Reference matmul kernels against a naive f64 triple loop, on odd shapes, with and without accumulation. */
import assert from "node:assert/strict";
import { test } from "node:test";
import { refKernels as ref } from "../../src/kernels/ref/index.ts";
import { randArray, rng } from "./kernels-ref-helpers.ts";

type Layout = "NT" | "NN" | "TN";

/** a(m,k) and b(k,n) element offsets for each layout (a is [M,K] or [K,M], b is [N,K] or [K,N]). */
function offsets(layout: Layout, M: number, N: number, K: number) {
  const aAt = layout === "TN" ? (m: number, k: number) => k * M + m : (m: number, k: number) => m * K + k;
  const bAt = layout === "NT" ? (k: number, n: number) => n * K + k : (k: number, n: number) => k * N + n;
  return { aAt, bAt };
}

/** Naive reference: expected[m,n] = init[m,n] + Σ_k a(m,k)·b(k,n) in f64, and bound[m,n] = Σ |terms| + |init|. */
function naive(
  layout: Layout,
  a: Float32Array,
  b: ArrayLike<number>,
  init: Float32Array | null,
  M: number,
  N: number,
  K: number,
) {
  const { aAt, bAt } = offsets(layout, M, N, K);
  const expected = new Float64Array(M * N);
  const bound = new Float64Array(M * N);
  for (let m = 0; m < M; m++) {
    for (let n = 0; n < N; n++) {
      let s = init === null ? 0 : init[m * N + n]!;
      let mag = Math.abs(s);
      for (let k = 0; k < K; k++) {
        const t = a[aAt(m, k)]! * b[bAt(k, n)]!;
        s += t;
        mag += Math.abs(t);
      }
      expected[m * N + n] = s;
      bound[m * N + n] = mag;
    }
  }
  return { expected, bound };
}

/** bf16 bits → value, decoded independently of the kernels (via a DataView). */
function decodeBf16(bits: Uint16Array): Float64Array {
  const dv = new DataView(new ArrayBuffer(4));
  const out = new Float64Array(bits.length);
  for (let i = 0; i < bits.length; i++) {
    dv.setUint32(0, bits[i]! * 65536);
    out[i] = dv.getFloat32(0);
  }
  return out;
}

const SHAPES: [number, number, number][] = [
  [1, 1, 1],
  [1, 7, 33],
  [7, 33, 127],
  [33, 127, 7],
  [127, 1, 33],
  [127, 33, 1],
  [33, 7, 127],
  [1, 127, 1],
  [2, 4, 5], // even shapes: full 2×4 blocks, no remainders
  [6, 10, 3],
  [8, 64, 33],
  [4, 2, 129],
];

function runCase(layout: Layout, bf16: boolean, accumulate: boolean, M: number, N: number, K: number, seed: number) {
  const rand = rng(seed);
  const a = randArray(rand, M * K);
  const bF = randArray(rand, N * K);
  const bBits = new Uint16Array(N * K);
  for (let i = 0; i < bBits.length; i++) bBits[i] = Math.floor(rand() * 65536) & 0xbfff; // finite, |x| < 2
  const init = randArray(rand, M * N, 3);
  const out = accumulate ? Float32Array.from(init) : new Float32Array(M * N).fill(Number.NaN);
  if (bf16 && layout === "NT") ref.matmulWNT(out, a, bBits, "bf16", M, N, K, accumulate);
  else if (bf16 && layout === "NN") ref.matmulWNN(out, a, bBits, "bf16", M, N, K, accumulate);
  else if (layout === "NT") ref.matmulNT(out, a, bF, M, N, K, accumulate);
  else if (layout === "NN") ref.matmulNN(out, a, bF, M, N, K, accumulate);
  else ref.matmulTN(out, a, bF, M, N, K, accumulate);
  const b = bf16 ? decodeBf16(bBits) : bF;
  const { expected, bound } = naive(layout, a, b, accumulate ? init : null, M, N, K);
  const tag = `matmul${layout}${bf16 ? "Bf16" : ""} ${M}x${N}x${K} acc=${accumulate}`;
  for (let i = 0; i < M * N; i++) {
    // f64 accumulation rounded once to f32: within one f32 rounding of the result (plus f64 reordering noise).
    const tol = 2 ** -24 * Math.abs(expected[i]!) + 1e-12 * bound[i]! + 1e-30;
    if (!(Math.abs(out[i]! - expected[i]!) <= tol))
      assert.fail(`${tag}: [${i}] got ${out[i]}, expected ${expected[i]}`);
  }
}

for (const layout of ["NT", "NN", "TN"] as const) {
  test(`matmul${layout} matches a naive f64 triple loop on odd shapes (overwrite and accumulate)`, () => {
    let seed = 1;
    for (const [M, N, K] of SHAPES) for (const acc of [false, true]) runCase(layout, false, acc, M, N, K, seed++);
  });
}

for (const layout of ["NT", "NN"] as const) {
  test(`matmulW${layout} on bf16 weights matches a naive loop over independently decoded bf16 weights`, () => {
    let seed = 100;
    for (const [M, N, K] of SHAPES) for (const acc of [false, true]) runCase(layout, true, acc, M, N, K, seed++);
  });
}

test("matmul with K = 0 gives zeros (overwrite) and leaves out unchanged (accumulate)", () => {
  const out = new Float32Array([5, 6]);
  ref.matmulNN(out, new Float32Array(0), new Float32Array(0), 1, 2, 0, true);
  assert.deepEqual([...out], [5, 6]);
  ref.matmulNT(out, new Float32Array(0), new Float32Array(0), 1, 2, 0, false);
  assert.deepEqual([...out], [0, 0]);
});

test("matmul kernels read only their [rows, cols] window (trailing data ignored)", () => {
  // Larger backing arrays must not change the result: the kernels use M, N, K, not array lengths.
  const rand = rng(7);
  const a = randArray(rand, 3 * 5);
  const b = randArray(rand, 4 * 5);
  const small = new Float32Array(12);
  const big = new Float32Array(20).fill(9);
  const aBig = new Float32Array(40);
  aBig.set(a);
  ref.matmulNT(small, a, b, 3, 4, 5, false);
  ref.matmulNT(big, aBig, b, 3, 4, 5, false);
  assert.deepEqual([...big.subarray(0, 12)], [...small]);
  assert.deepEqual([...big.subarray(12)], new Array(8).fill(9));
});
