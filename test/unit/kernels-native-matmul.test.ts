/**
 * Native matmul parity: every variant (NT, NN, TN, and the weight entries WNT, WNN on every format of the registry;
 * overwrite and accumulate) against the reference
 * kernels, under every ISA this CPU has at 1 and 2 threads (plus 4 for the 2-D thread grid), on odd shapes and
 * shapes that cross the cache blocks (K > 384 on avx2, K > 1024 on avx512, M > 240), the small-M path (M ≤ 4) and the skinny NT path (N ≤ 16). Errors are bounded per
 * element by rtol·Σ_k|a||b|: f32 rounding for f32 kernels, bf16 rounding of the activations for the
 * AVX512_BF16 path (and of a block format's decoded weights there). Elements past M·N must stay untouched.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { refKernels } from "../../src/kernels/ref/index.ts";
import type { Kernels } from "../../src/kernels/types.ts";
import { FORMAT_NAMES, type StorageDType, type WeightData, weightFormat } from "../../src/tensor/formats/index.ts";
import {
  abs,
  assertScaledClose,
  label,
  nativeVariants,
  randArray,
  randWeight,
  rng,
  skipWithoutNative,
} from "./kernels-native-helpers.ts";

/** "matmulNT" …, or a weight entry with its format after the colon: every format of the registry is tested. */
type Variant = string;
const VARIANTS: Variant[] = [
  "matmulNT",
  "matmulNN",
  "matmulTN",
  ...FORMAT_NAMES.flatMap((f) => [`matmulWNT:${f}`, `matmulWNN:${f}`]),
];

// [M, N, K]: odd sizes, degenerate ones, and sizes crossing MR/NR tiles and the K/M cache blocks.
const SHAPES: [number, number, number][] = [
  [1, 1, 1],
  [1, 7, 33],
  [1, 300, 77], // one row (decoding) with B large enough to split across threads, K not a multiple of 2W
  [1, 1000, 64],
  [1, 3, 9000],
  [3, 127, 65],
  [7, 33, 127],
  [33, 7, 1],
  [127, 127, 127],
  [13, 45, 0],
  [2, 9, 0],
  [20, 5, 0],
  [130, 16, 300],
  [45, 13, 70],
  [250, 70, 390],
  [61, 300, 800],
  [30, 70, 2100], // K over the avx512 kernels' 1024 k-block (3 blocks of 700)
];

const SENTINEL = 12345.5;

/**
 * The shape a variant runs: a block format's rows (K for WNT, N for WNN) rounded up to whole blocks (32 or 256
 * values), the other sizes as given; shapes whose rows round to the same length are still distinct products.
 */
function shapeFor(v: Variant, [M, N, K]: [number, number, number]): [number, number, number] {
  const format = v.split(":")[1];
  if (format === undefined) return [M, N, K];
  const bv = weightFormat(format).blockValues;
  const up = (x: number) => Math.ceil(x / bv) * bv;
  return v.startsWith("matmulWNT") ? [M, N, up(K)] : [M, up(N), K];
}

/** Runs a variant on kernels k (the weight entries with the format after the colon). */
function run(
  k: Kernels,
  v: Variant,
  out: Float32Array,
  a: Float32Array,
  b: WeightData,
  s: number[],
  accumulate: boolean,
) {
  const [M, N, K] = s as [number, number, number];
  const [name, format] = v.split(":") as [string, StorageDType | undefined];
  if (name === "matmulWNT" || name === "matmulWNN") k[name](out, a, b, format!, M, N, K, accumulate);
  else k[name as "matmulNT"](out, a, b as Float32Array, M, N, K, accumulate);
}

test("native matmul matches the reference on every ISA, thread count and shape", (t) => {
  if (skipWithoutNative(t)) return;
  const kernels = [...nativeVariants([1, 2]), ...nativeVariants([4]).slice(-1)];
  const rand = rng(11);
  for (const v of VARIANTS) {
    const format = (v.split(":")[1] ?? "f32") as StorageDType;
    for (const shape of SHAPES) {
      const [M, N, K] = shapeFor(v, shape);
      const a = randArray(rand, M * K);
      const { data: b, values } = randWeight(rand, format, N * K);
      const init = randArray(rand, M * N);
      const bAbs = abs(values);
      // Reference results: plain and accumulated, and Σ|a||b| for the error bound.
      const want = new Float32Array(M * N);
      const wantAcc = init.slice();
      const bound = new Float32Array(M * N);
      const absVariant = v.startsWith("matmulWNT") ? "matmulNT" : v.startsWith("matmulWNN") ? "matmulNN" : v;
      run(refKernels, v, want, a, b, [M, N, K], false);
      run(refKernels, v, wantAcc, a, b, [M, N, K], true);
      refKernels[absVariant as "matmulNT"](bound, abs(a), bAbs, M, N, K, false);
      for (let i = 0; i < bound.length; i++) bound[i] = bound[i]! + Math.abs(init[i]!) * 1e-2;
      for (const k of kernels) {
        // bf16 dot products round the activations to bf16 (relative error ≤ 2^-9 per product), and a block
        // format's decoded weights too (kernels-native-matmul-blocks-bf16.test.ts checks both tightly).
        const blocks = weightFormat(format).blockValues > 1;
        const rtol = k.isa !== "avx512" ? 1e-5 : format === "bf16" ? 4e-3 : blocks ? 8e-3 : 1e-5;
        const name = `${v} ${M}x${N}x${K} ${label(k)}`;
        const out = new Float32Array(M * N + 1).fill(Number.NaN);
        out[M * N] = SENTINEL;
        run(k, v, out, a, b, [M, N, K], false);
        assertScaledClose(name, out.subarray(0, M * N), want, bound, rtol);
        assert.equal(out[M * N], SENTINEL, `${name}: wrote past M·N`);
        const acc = new Float32Array(M * N + 1);
        acc.set(init);
        acc[M * N] = SENTINEL;
        run(k, v, acc, a, b, [M, N, K], true);
        assertScaledClose(`${name} accumulate`, acc.subarray(0, M * N), wantAcc, bound, rtol);
        assert.equal(acc[M * N], SENTINEL, `${name} accumulate: wrote past M·N`);
      }
    }
  }
});

test("native weight entries on f32 weights give exactly the bits of matmulNT and matmulNN", (t) => {
  if (skipWithoutNative(t)) return;
  const rand = rng(17);
  for (const [M, N, K] of SHAPES) {
    const a = randArray(rand, M * K);
    const b = randArray(rand, N * K);
    const init = randArray(rand, M * N);
    for (const k of nativeVariants([1, 2])) {
      for (const acc of [false, true]) {
        const plain = init.slice();
        const viaW = init.slice();
        k.matmulNT(plain, a, b, M, N, K, acc);
        k.matmulWNT(viaW, a, b, "f32", M, N, K, acc);
        assert.deepEqual(viaW, plain, `matmulWNT f32 ${M}x${N}x${K} acc=${acc} ${label(k)}`);
        k.matmulNN(plain, a, b, M, N, K, acc);
        k.matmulWNN(viaW, a, b, "f32", M, N, K, acc);
        assert.deepEqual(viaW, plain, `matmulWNN f32 ${M}x${N}x${K} acc=${acc} ${label(k)}`);
      }
    }
  }
});

test("native matmul reads operands through subarray views (byteOffset respected)", (t) => {
  if (skipWithoutNative(t)) return;
  const rand = rng(5);
  const [M, N, K] = [9, 40, 17];
  const aBuf = randArray(rand, M * K + 3);
  const bBuf = randArray(rand, N * K + 5);
  const a = aBuf.subarray(3);
  const b = bBuf.subarray(5);
  const want = new Float32Array(M * N);
  refKernels.matmulNT(want, a, b, M, N, K, false);
  const bound = new Float32Array(M * N);
  refKernels.matmulNT(bound, abs(a), abs(b), M, N, K, false);
  for (const k of nativeVariants([2])) {
    const outBuf = new Float32Array(M * N + 7);
    const out = outBuf.subarray(7);
    k.matmulNT(out, a, b, M, N, K, false);
    assertScaledClose(`subarray ${label(k)}`, out, want, bound, 1e-5);
    assert.deepEqual([...outBuf.subarray(0, 7)], [0, 0, 0, 0, 0, 0, 0], "wrote before the view");
  }
});

test("native matmul rejects wrong types and short arrays", (t) => {
  if (skipWithoutNative(t)) return;
  const k = nativeVariants([1])[0]!;
  const f = (n: number) => new Float32Array(n);
  assert.throws(() => k.matmulNT(f(5), f(6), f(6), 2, 3, 3, false), /out has 5 elements, needs at least 6/);
  assert.throws(() => k.matmulNT(f(6), f(6), f(5), 2, 3, 3, false), /b has 5 elements/);
  assert.throws(() => k.matmulWNT(f(6), f(6), f(9), "bf16", 2, 3, 3, false), /b must be a Uint16Array/);
  assert.throws(() => k.matmulWNN(f(6), f(6), new Uint16Array(9), "f32", 2, 3, 3, false), /b must be a Float32Array/);
  assert.throws(() => k.matmulNN(f(6), f(6), f(9), 2, 3, -1, false), /K must be an integer/);
  assert.throws(() => k.matmulNN(f(6), f(6), f(9), 2, 3, 1.5, false), /K must be an integer/);
});
