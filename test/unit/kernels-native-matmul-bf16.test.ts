/**
 * The bf16-weight products of the native kernels (matmulWNT, the forward and matmulWNN, dx = dy·W) checked tightly:
 * where the avx512 kernels use vdpbf16ps, the product must be the f32 product of the activations rounded to bf16
 * (nearest even), up to f32 summation order, not merely within bf16 rounding of the exact one; the other ISAs keep
 * the activations exact. Shapes cross every edge of the packed path: partial MR×NR tiles, odd K (a pair padded
 * with zero), a last partial tile of 16 k-pairs, K over the cache block, M over the row block and N over the column
 * block, and thread counts that take the shared packed-B path (every thread owns an MR-row tile) and the per-thread
 * grid (too few rows). NaN activations stay NaN in their own row only.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { nativeHasBf16Dot } from "../../src/kernels/native/index.ts";
import { refKernels } from "../../src/kernels/ref/index.ts";
import type { Kernels } from "../../src/kernels/types.ts";
import {
  abs,
  assertScaledClose,
  label,
  nativeVariants,
  randArray,
  randBf16,
  rng,
  roundBf16,
  skipWithoutNative,
} from "./kernels-native-helpers.ts";

// Forward shapes [M, N, K] (matmulWNT: W [N, K]); matmulWNN runs the transposed product dx[M, K] = dy[M, N]·W.
const SHAPES: [number, number, number][] = [
  [12, 32, 64], // exactly one register tile
  [13, 33, 31], // partial tiles, odd K
  [25, 70, 65], // two and a bit row tiles, K = 2·32 + 1
  [130, 96, 290], // 145 k-pairs: 9 whole transpose tiles and a partial one
  [250, 300, 1100], // M over the row block, K over the 1024 cache block (2 blocks of 552)
  [61, 64, 2101], // three k-blocks (704, 704, 693), odd rows of pairs
  [24, 1000, 40], // two row tiles: the shared path at 2 threads, per-thread grid at 4
  [40, 4200, 36], // N over the 2048 column block (3 blocks)
];

function widen(b: Uint16Array): Float32Array {
  const out = new Float32Array(b.length);
  refKernels.bf16ToF32(out, b, b.length);
  return out;
}

/** Whether kernels k round the activations of bf16-weight products. */
function rounds(k: Kernels): boolean {
  return k.isa === "avx512" && nativeHasBf16Dot();
}

test("native bf16-weight products equal the f32 product of the bf16-rounded activations (WNT, WNN)", (t) => {
  if (skipWithoutNative(t)) return;
  const kernels = nativeVariants([1, 2, 4]);
  const rand = rng(23);
  for (const [M, N, K] of SHAPES) {
    for (const nn of [false, true]) {
      // NT: a[M, K]·W[N, K]ᵀ → [M, N]; NN: a[M, N]·W[N, K] → [M, K] (W the same [N, K] bf16 array).
      const [rows, cols, inner] = nn ? [M, K, N] : [M, N, K];
      const a = randArray(rand, rows * inner);
      const w = randBf16(rand, N * K);
      const wf = widen(w);
      const init = randArray(rand, rows * cols);
      const ref = (x: Float32Array, b: Float32Array, out: Float32Array, acc: boolean) =>
        nn
          ? refKernels.matmulNN(out, x, b, rows, cols, inner, acc)
          : refKernels.matmulNT(out, x, b, rows, cols, inner, acc);
      const bound = new Float32Array(rows * cols);
      ref(abs(a), abs(wf), bound, false);
      for (let i = 0; i < bound.length; i++) bound[i] = bound[i]! + Math.abs(init[i]!);
      const wants = new Map<boolean, [Float32Array, Float32Array]>();
      for (const r of [false, true]) {
        const x = r ? roundBf16(a) : a;
        const plain = new Float32Array(rows * cols);
        const acc = init.slice();
        ref(x, wf, plain, false);
        ref(x, wf, acc, true);
        wants.set(r, [plain, acc]);
      }
      for (const k of kernels) {
        const [want, wantAcc] = wants.get(rounds(k))!;
        const name = `${nn ? "matmulWNN" : "matmulWNT"} bf16 ${rows}x${cols}x${inner} ${label(k)}`;
        const call = (out: Float32Array, acc: boolean) =>
          nn
            ? k.matmulWNN(out, a, w, "bf16", rows, cols, inner, acc)
            : k.matmulWNT(out, a, w, "bf16", rows, cols, inner, acc);
        const out = new Float32Array(rows * cols).fill(Number.NaN);
        call(out, false);
        assertScaledClose(name, out, want, bound, 1e-5);
        const acc = init.slice();
        call(acc, true);
        assertScaledClose(`${name} accumulate`, acc, wantAcc, bound, 1e-5);
      }
    }
  }
});

test("the rounded-activation check tells rounding from truncation (the tight bound above can fail)", (t) => {
  if (skipWithoutNative(t)) return;
  // Activations truncated to bf16 instead of rounded give a product outside the bound the test above uses.
  const rand = rng(29);
  const [M, N, K] = [24, 64, 290];
  const a = randArray(rand, M * K);
  const wf = widen(randBf16(rand, N * K));
  const rounded = new Float32Array(M * N);
  refKernels.matmulNT(rounded, roundBf16(a), wf, M, N, K, false);
  const truncated = new Float32Array(M * N);
  const u = new Uint32Array(a.slice().buffer);
  for (let i = 0; i < u.length; i++) u[i] = u[i]! & 0xffff0000;
  refKernels.matmulNT(truncated, new Float32Array(u.buffer), wf, M, N, K, false);
  const bound = new Float32Array(M * N);
  refKernels.matmulNT(bound, abs(a), abs(wf), M, N, K, false);
  assert.throws(() => assertScaledClose("truncated", truncated, rounded, bound, 1e-5));
});

test("native bf16-weight products keep a NaN activation in its own row", (t) => {
  if (skipWithoutNative(t)) return;
  const rand = rng(31);
  const [M, N, K] = [40, 70, 130];
  for (const k of nativeVariants([1, 2])) {
    for (const nn of [false, true]) {
      const [cols, inner] = nn ? [K, N] : [N, K];
      const a = randArray(rand, M * inner);
      const w = randBf16(rand, N * K);
      const bad = 17;
      a[bad * inner + 5] = Number.NaN;
      const out = new Float32Array(M * cols);
      if (nn) k.matmulWNN(out, a, w, "bf16", M, cols, inner, false);
      else k.matmulWNT(out, a, w, "bf16", M, cols, inner, false);
      for (let m = 0; m < M; m++)
        for (let n = 0; n < cols; n++) {
          const v = out[m * cols + n]!;
          const where = `${nn ? "WNN" : "WNT"} ${label(k)} [${m}, ${n}]`;
          if (m === bad) assert.ok(Number.isNaN(v), `${where}: expected NaN, got ${v}`);
          else assert.ok(Number.isFinite(v), `${where}: expected a finite value, got ${v}`);
        }
    }
  }
});

// One-row products (decoding a bf16 model: M = 1, NT) take their own path on every ISA: x reordered into even- and
// odd-indexed values, each word of two bf16 widened by a shift and a mask. K: none, below one 2W step of any ISA,
// whole steps, whole steps plus a tail of each length class, and rows of 12 KiB or more (taken four at a time, N not
// a multiple of four; 6143 values is the longest row read alone); N: one row, and enough to split over threads.
const ONE_ROW_SHAPES: [number, number][] = [
  [9, 0], // empty sums
  [1, 1],
  [5, 7],
  [3, 32],
  [300, 33],
  [64, 47],
  [1000, 64],
  [129, 2048],
  [7, 9000],
  [9, 6144],
  [6, 6143],
  [13, 4096],
  [1030, 4127],
];

test("native one-row bf16 products (decode) are the exact product of the f32 activations on every ISA", (t) => {
  if (skipWithoutNative(t)) return;
  const rand = rng(37);
  for (const [N, K] of ONE_ROW_SHAPES) {
    const x = randArray(rand, K);
    const w = randBf16(rand, N * K);
    const wf = widen(w);
    const init = randArray(rand, N);
    const want = new Float32Array(N);
    const wantAcc = init.slice();
    refKernels.matmulNT(want, x, wf, 1, N, K, false);
    refKernels.matmulNT(wantAcc, x, wf, 1, N, K, true);
    const bound = new Float32Array(N);
    refKernels.matmulNT(bound, abs(x), abs(wf), 1, N, K, false);
    for (let i = 0; i < N; i++) bound[i] = bound[i]! + Math.abs(init[i]!);
    for (const k of nativeVariants([1, 2, 4])) {
      const name = `matmulWNT bf16 1x${N}x${K} ${label(k)}`;
      const out = new Float32Array(N + 1).fill(Number.NaN);
      out[N] = 12345.5;
      k.matmulWNT(out, x, w, "bf16", 1, N, K, false);
      assertScaledClose(name, out.subarray(0, N), want, bound, 1e-6);
      assert.equal(out[N], 12345.5, `${name}: wrote past N`);
      const acc = init.slice();
      k.matmulWNT(acc, x, w, "bf16", 1, N, K, true);
      assertScaledClose(`${name} accumulate`, acc, wantAcc, bound, 1e-6);
    }
  }
});

test("the one-row bf16 check tells an exact product from one of rounded activations", (t) => {
  if (skipWithoutNative(t)) return;
  // The same bound fails for the activations rounded to bf16 (what the packed path does where it has vdpbf16ps).
  const rand = rng(41);
  const [N, K] = [64, 2048];
  const x = randArray(rand, K);
  const wf = widen(randBf16(rand, N * K));
  const exact = new Float32Array(N);
  refKernels.matmulNT(exact, x, wf, 1, N, K, false);
  const rounded = new Float32Array(N);
  refKernels.matmulNT(rounded, roundBf16(x), wf, 1, N, K, false);
  const bound = new Float32Array(N);
  refKernels.matmulNT(bound, abs(x), abs(wf), 1, N, K, false);
  assert.throws(() => assertScaledClose("rounded", rounded, exact, bound, 1e-6));
});

test("native one-row bf16 products keep a NaN weight in its own output, in the paired part and in the tail", (t) => {
  if (skipWithoutNative(t)) return;
  const rand = rng(43);
  const [N, K] = [40, 77]; // 77 = 64 + 13: a paired part on every ISA and a tail
  const x = randArray(rand, K);
  for (const col of [6, 7, 70]) {
    const w = randBf16(rand, N * K);
    const bad = 11;
    w[bad * K + col] = 0x7fc0; // a quiet NaN
    for (const k of nativeVariants([1, 2])) {
      const out = new Float32Array(N);
      k.matmulWNT(out, x, w, "bf16", 1, N, K, false);
      for (let n = 0; n < N; n++) {
        const where = `${label(k)} column ${col}, output ${n}`;
        if (n === bad) assert.ok(Number.isNaN(out[n]!), `${where}: expected NaN, got ${out[n]}`);
        else assert.ok(Number.isFinite(out[n]!), `${where}: expected a finite value, got ${out[n]}`);
      }
    }
  }
});
