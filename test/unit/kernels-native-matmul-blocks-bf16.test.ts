/**
 * Block-format weight products (q8_0, q4_0, q4_k, q5_k, q6_k) on the bf16 dot product: where the avx512 kernels
 * have vdpbf16ps, a product with more rows than the decoding path's (the packed path: training and prefill) decodes
 * each weight exactly, rounds it to bf16 like the activations, and runs on the bf16 kernel. So the result must be the
 * f32 product of the bf16-rounded activations and the bf16-rounded decoded weights, up to f32 summation order (not
 * merely within bf16 rounding of the exact product); the other ISAs, and kernels made with blockCompute "f32"
 * (LORATUNE_BLOCK_COMPUTE=f32), keep both exact. Forward (matmulWNT, blocks along
 * the reduction) and backward (matmulWNN, blocks across it) over shapes that cross the packing's edges: partial
 * tiles, a last partial tile of 16 k-pairs, odd reductions (a pair padded with zero), K over the 1024 cache block, N
 * over the 1024-column decode chunk and the 2048 column block, and thread counts on the shared packed-B path and the
 * per-thread grid.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import {
  createNativeKernels,
  nativeBlocksOnBf16,
  nativeHasBf16Dot,
  nativeIsas,
} from "../../src/kernels/native/index.ts";
import { refKernels } from "../../src/kernels/ref/index.ts";
import type { Kernels } from "../../src/kernels/types.ts";
import { FORMAT_NAMES, type StorageDType, weightFormat } from "../../src/tensor/formats/index.ts";
import {
  abs,
  assertScaledClose,
  label,
  nativeVariants,
  randArray,
  randWeight,
  rng,
  roundBf16,
  skipWithoutNative,
} from "./kernels-native-helpers.ts";

const BLOCK_FORMATS = FORMAT_NAMES.filter((f) => weightFormat(f).blockValues > 1) as StorageDType[];

// [M, N, K] of the forward y[M, N] = x[M, K]·W[N, K]ᵀ, K in whole blocks (rounded up per format). The backward runs
// dx[M, K] = dy[M, N]·W[N, K] on the same W.
const SHAPES: [number, number, number][] = [
  [13, 33, 256], // partial row and column tiles
  [12, 64, 608], // K = 2 × 304: 152 k-pairs a block, a partial tile of 16 pairs
  [130, 70, 2304], // K over the 1024 block (3 × 768), M over 240 for 2 threads
  [24, 1000, 512], // two row tiles: the shared path at 2 threads, the per-thread grid at 4
  [40, 65, 4352], // backward: K = 4352 columns (over the 1024 decode chunk and the 2048 block), odd N = 65 rows
];

/** Whether kernels k round both operands of a block-format product on the packed path. */
function rounds(k: Kernels): boolean {
  return k.isa === "avx512" && nativeHasBf16Dot() && !exact.has(k);
}

/** avx512 kernels made with blockCompute "f32", where this CPU has them (2 threads). */
const exact = new Set<Kernels>(nativeIsas().includes("avx512") ? [createNativeKernels("avx512", 2, "f32")] : []);

test("native block-format products equal the f32 product of bf16-rounded activations and weights (WNT, WNN)", (t) => {
  if (skipWithoutNative(t)) return;
  const kernels = [...nativeVariants([1, 2, 4]), ...exact];
  for (const k of kernels) assert.equal(nativeBlocksOnBf16(k), rounds(k), `nativeBlocksOnBf16 ${label(k)}`);
  const rand = rng(41);
  for (const f of BLOCK_FORMATS) {
    const bv = weightFormat(f).blockValues;
    for (const [M, N, k0] of SHAPES) {
      const K = Math.ceil(k0 / bv) * bv;
      const { data: w, values } = randWeight(rand, f, N * K);
      for (const nn of [false, true]) {
        const [cols, inner] = nn ? [K, N] : [N, K];
        const a = randArray(rand, M * inner);
        const init = randArray(rand, M * cols);
        const ref = (x: Float32Array, b: Float32Array, out: Float32Array, acc: boolean) =>
          nn
            ? refKernels.matmulNN(out, x, b, M, cols, inner, acc)
            : refKernels.matmulNT(out, x, b, M, cols, inner, acc);
        const bound = new Float32Array(M * cols);
        ref(abs(a), abs(values), bound, false);
        for (let i = 0; i < bound.length; i++) bound[i] = bound[i]! + Math.abs(init[i]!);
        const wants = new Map<boolean, [Float32Array, Float32Array]>();
        for (const r of [false, true]) {
          const [x, b] = r ? [roundBf16(a), roundBf16(values)] : [a, values];
          const plain = new Float32Array(M * cols);
          const acc = init.slice();
          ref(x, b, plain, false);
          ref(x, b, acc, true);
          wants.set(r, [plain, acc]);
        }
        for (const k of kernels) {
          const [want, wantAcc] = wants.get(rounds(k))!;
          const name = `${nn ? "matmulWNN" : "matmulWNT"} ${f} ${M}x${cols}x${inner} ${label(k)}`;
          const call = (out: Float32Array, acc: boolean) =>
            nn ? k.matmulWNN(out, a, w, f, M, cols, inner, acc) : k.matmulWNT(out, a, w, f, M, cols, inner, acc);
          const out = new Float32Array(M * cols).fill(Number.NaN);
          call(out, false);
          assertScaledClose(name, out, want, bound, 1e-5);
          const acc = init.slice();
          call(acc, true);
          assertScaledClose(`${name} accumulate`, acc, wantAcc, bound, 1e-5);
        }
      }
    }
  }
});

test("the check above tells rounded weights from exact ones (its bound can fail)", () => {
  // Rounding only the activations, as for a bf16 weight, gives a q8_0 product outside the bound the test above uses.
  const rand = rng(43);
  const [M, N, K] = [24, 64, 288];
  const { values } = randWeight(rand, "q8_0", N * K);
  const a = roundBf16(randArray(rand, M * K));
  const both = new Float32Array(M * N);
  refKernels.matmulNT(both, a, roundBf16(values), M, N, K, false);
  const exactWeights = new Float32Array(M * N);
  refKernels.matmulNT(exactWeights, a, values, M, N, K, false);
  const bound = new Float32Array(M * N);
  refKernels.matmulNT(bound, abs(a), abs(values), M, N, K, false);
  assert.throws(() => assertScaledClose("exact weights", exactWeights, both, bound, 1e-5));
});
