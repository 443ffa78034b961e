/**
 * matvecWQ8, the decode product with the activation quantized to 8-bit blocks (src/kernels/ref/matvec-q8.ts), on
 * every block format (q8_0, q4_0, q4_k, q5_k, q6_k):
 *   - the reference's activation quantization on hand-checked blocks (d = max|x|/127, ties to even, NaN and tiny
 *     blocks), and its integer sums against the plain f64 dot of the dequantized weight with the dequantized x;
 *   - the reference against the exact product (matmulWNT) within the bound of the activation's rounding,
 *     Σ_b (d_x,b / 2)·Σ_{j in b} |w_j|;
 *   - the native kernels (every ISA this CPU has, 1 and 2 threads) against the reference on odd shapes, on weights
 *     made by the quantizer and on random raw blocks (every scale/min bit pattern and int8 scale; q8_0 levels of
 *     -128, which a GGUF file may hold), overwrite and accumulate: the integer sums are exact, so only the f32
 *     summation order differs (1e-5 of Σ|ŵ||x̂|);
 *   - bad arguments: other formats, rows that are not whole blocks, short arrays.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { refKernels } from "../../src/kernels/ref/index.ts";
import { matvecWQ8, quantizeRowQ8, roundHalfEven } from "../../src/kernels/ref/matvec-q8.ts";
import type { Kernels } from "../../src/kernels/types.ts";
import { f32BitsToF16 } from "../../src/tensor/formats/f16.ts";
import { weightFormat } from "../../src/tensor/formats/index.ts";
import {
  abs,
  assertScaledClose,
  label,
  nativeVariants,
  randArray,
  rng,
  skipWithoutNative,
} from "./kernels-native-helpers.ts";

type Fmt = "q8_0" | "q4_0" | "q4_k" | "q5_k" | "q6_k";
const QK: Record<Fmt, number> = { q8_0: 32, q4_0: 32, q4_k: 256, q5_k: 256, q6_k: 256 };
const K_SEED: Record<Fmt, number> = { q8_0: 1, q4_0: 2, q4_k: 3, q5_k: 4, q6_k: 5 };

/** A weight [N, K] in `f`: the quantizer's blocks of uniform values, or (raw) random bytes with moderate f16 scales. */
function makeWeight(rand: () => number, f: Fmt, N: number, K: number, raw: boolean): Uint8Array {
  const fmt = weightFormat(f);
  const data = fmt.alloc(N * K) as Uint8Array;
  if (!raw) {
    fmt.fromF32(data, 0, randArray(rand, N * K), N * K);
    return data;
  }
  for (let i = 0; i < data.length; i++) data[i] = Math.floor(rand() * 256);
  const f16 = new Float32Array(1);
  const half = (v: number) => {
    f16[0] = v;
    return f32BitsToF16(new Uint32Array(f16.buffer)[0]!);
  };
  const setHalf = (p: number, v: number) => {
    const h = half(v);
    data[p] = h & 0xff;
    data[p + 1] = h >>> 8;
  };
  const blocks = (N * K) / QK[f];
  for (let b = 0; b < blocks; b++) {
    if (f === "q8_0") setHalf(b * 34, (rand() - 0.5) / 64);
    else if (f === "q4_0") setHalf(b * 18, (rand() - 0.5) / 8);
    else if (f === "q5_k") {
      setHalf(b * 176, rand() / 1024);
      setHalf(b * 176 + 2, rand() / 1024);
    } else if (f === "q6_k") setHalf(b * 210 + 208, (rand() - 0.5) / 1024);
    else {
      setHalf(b * 144, rand() / 512);
      setHalf(b * 144 + 2, rand() / 512);
    }
  }
  return data;
}

/** The weight's values (dequantized exactly). */
function values(f: Fmt, w: Uint8Array, n: number): Float32Array {
  const out = new Float32Array(n);
  weightFormat(f).toF32(out, w, 0, n);
  return out;
}

/** x as its quantization represents it: q·d per value. */
function dequantizedX(x: Float32Array, K: number, qk: number): Float32Array {
  const { q, d } = quantizeRowQ8(x, K, qk);
  return Float32Array.from(q, (v, i) => v * d[Math.floor(i / qk)]!);
}

test("roundHalfEven rounds ties to the even integer", () => {
  assert.deepEqual(
    [-2.5, -1.5, -0.5, 0.5, 1.5, 2.5, 2.4999, -2.5001, 3].map(roundHalfEven),
    [-2, -2, 0, 0, 2, 2, 2, -3, 3],
  );
});

test("quantizeRowQ8: d = max|x|/127, levels x/d rounded to even, sub-block sums", () => {
  const x = new Float32Array(64);
  x.set([127, -63.5, 0.5, 1.5, 2.5, -0.5, -127]); // block 0: d = 1 exactly
  for (let j = 0; j < 32; j++) x[32 + j] = (j - 16) / 4; // block 1: max|x| = 4
  const r = quantizeRowQ8(x, 64, 32);
  assert.deepEqual([...r.q.subarray(0, 8)], [127, -64, 0, 2, 2, 0, -127, 0]);
  assert.equal(r.d[0], 1);
  assert.equal(r.d[1], Math.fround(4 / 127));
  const id = Math.fround(1 / r.d[1]!);
  for (let j = 0; j < 32; j++)
    assert.equal(r.q[32 + j], roundHalfEven(Math.fround(x[32 + j]! * id)), `level ${32 + j}`);
  assert.equal(r.q[32], -127);
  assert.equal(r.sums[0], 127 - 64 + 2 + 2 - 127);
  assert.equal(
    r.sums[1],
    [...r.q.subarray(32)].reduce((a, b) => a + b, 0),
  );
});

test("quantizeRowQ8: a block with NaN or inf gets d = NaN, one below f32's normal range d = 0; levels 0", () => {
  const x = new Float32Array(96).fill(0.25);
  x[3] = Number.NaN;
  x[40] = Number.NEGATIVE_INFINITY;
  x.fill(1e-39, 64);
  const r = quantizeRowQ8(x, 96, 32);
  assert.ok(Number.isNaN(r.d[0]!) && Number.isNaN(r.d[1]!));
  assert.equal(r.d[2], 0);
  assert.ok(r.q.every((v) => v === 0));
});

for (const f of ["q8_0", "q4_0", "q4_k", "q5_k", "q6_k"] as const) {
  const qk = QK[f];

  test(`matvecWQ8 ${f}: the integer sums equal the dot of the dequantized weight and x; within the rounding bound of the exact product`, () => {
    const rand = rng(5);
    const [N, K] = [13, 3 * qk];
    for (const raw of [false, true]) {
      const w = makeWeight(rand, f, N, K, raw);
      const wv = values(f, w, N * K);
      const x = randArray(rand, K);
      const got = new Float32Array(N);
      matvecWQ8(got, x, w, f, N, K, false);
      const xh = dequantizedX(x, K, qk);
      const exact = new Float32Array(N);
      refKernels.matmulWNT(exact, x, w, f, 1, N, K, false);
      const { d } = quantizeRowQ8(x, K, qk);
      for (let n = 0; n < N; n++) {
        let dot = 0;
        let mag = 0;
        let bound = 0;
        for (let j = 0; j < K; j++) {
          const v = wv[n * K + j]!;
          dot += v * xh[j]!;
          mag += Math.abs(v * xh[j]!);
          bound += (d[Math.floor(j / qk)]! / 2) * Math.abs(v);
        }
        // The scales d_w·d_x are rounded to f32 once per block: a few ulps of Σ|ŵ||x̂|.
        assert.ok(Math.abs(got[n]! - dot) <= 1e-6 * mag, `${raw ? "raw" : "quantized"} row ${n}: ${got[n]} vs ${dot}`);
        assert.ok(
          Math.abs(got[n]! - exact[n]!) <= bound + 1e-6 * mag,
          `row ${n}: ${got[n]} vs exact ${exact[n]}, bound ${bound}`,
        );
      }
    }
  });

  test(`native matvecWQ8 ${f} matches the reference on every ISA, thread count and shape`, (t) => {
    if (skipWithoutNative(t)) return;
    const rand = rng(20 + K_SEED[f]);
    // [N, K in blocks]: one row, odd counts, rows enough to split across threads, long rows.
    const shapes: [number, number][] = [
      [1, 1],
      [7, 3],
      [33, 1],
      [300, 2],
      [129, 9],
      [2, 280],
      [5, 0],
    ];
    for (const [N, blocks] of shapes) {
      const K = blocks * qk;
      for (const raw of [false, true]) {
        const w = makeWeight(rand, f, N, K, raw);
        const x = randArray(rand, K, 3);
        const init = randArray(rand, N);
        const want = new Float32Array(N);
        const wantAcc = init.slice();
        matvecWQ8(want, x, w, f, N, K, false);
        matvecWQ8(wantAcc, x, w, f, N, K, true);
        const scale = new Float32Array(N);
        refKernels.matmulNT(scale, abs(dequantizedX(x, K, qk)), abs(values(f, w, N * K)), 1, N, K, false);
        for (let i = 0; i < N; i++) scale[i] = scale[i]! + Math.abs(init[i]!) * 1e-2;
        for (const k of nativeVariants([1, 2])) {
          const name = `${f} ${N}x${K}${raw ? " raw" : ""} ${label(k)}`;
          const out = new Float32Array(N + 1).fill(Number.NaN);
          out[N] = 7.5;
          k.matvecWQ8(out.subarray(0, N), x, w, f, N, K, false);
          assertScaledClose(name, out.subarray(0, N), want, scale, 1e-5);
          assert.equal(out[N], 7.5, `${name}: wrote past N`);
          const acc = init.slice();
          k.matvecWQ8(acc, x, w, f, N, K, true);
          assertScaledClose(`${name} accumulate`, acc, wantAcc, scale, 1e-5);
        }
      }
    }
  });

  test(`native matvecWQ8 ${f}: a non-finite activation block makes every output NaN, as the reference`, (t) => {
    if (skipWithoutNative(t)) return;
    const rand = rng(9);
    const [N, K] = [5, 2 * qk];
    const w = makeWeight(rand, f, N, K, false);
    const x = randArray(rand, K);
    x[qk + 1] = Number.POSITIVE_INFINITY;
    for (const k of [refKernels, ...nativeVariants([1])] as Kernels[]) {
      const out = new Float32Array(N);
      k.matvecWQ8(out, x, w, f, N, K, false);
      assert.ok(out.every(Number.isNaN), `${label(k)}: ${out}`);
    }
  });
}

test("matvecWQ8 refuses other formats, rows that are not whole blocks, and short arrays", (t) => {
  if (skipWithoutNative(t)) return;
  const w = new Uint8Array(2 * 34);
  const out = new Float32Array(2);
  const x = new Float32Array(32);
  for (const k of [refKernels, ...nativeVariants([1])] as Kernels[]) {
    const name = label(k);
    assert.throws(() => k.matvecWQ8(out, x, new Uint16Array(64), "bf16", 2, 32, false), TypeError, name);
    assert.throws(() => k.matvecWQ8(out, x, new Float32Array(64), "f32", 2, 32, false), TypeError, name);
    assert.throws(() => k.matvecWQ8(out, x, w, "q8_0", 4, 16, false), RangeError, name);
    assert.throws(() => k.matvecWQ8(out, x, new Uint8Array(144), "q4_k", 1, 128, false), RangeError, name);
    if (k === refKernels) continue; // the reference trusts its lengths, as every reference kernel does
    assert.throws(() => k.matvecWQ8(out, x, w.subarray(1), "q8_0", 2, 32, false), RangeError, name);
    assert.throws(() => k.matvecWQ8(out, x.subarray(1), w, "q8_0", 2, 32, false), RangeError, name);
    assert.throws(() => k.matvecWQ8(out.subarray(1), x, w, "q8_0", 2, 32, false), RangeError, name);
  }
});
