/**
 * Native parity for the non-matmul kernels (elementwise, RMSNorm, RoPE, SwiGLU, embedding, cross-entropy, AdamW,
 * dtype conversions) against the reference, under every ISA at 1 and 2 threads. Lengths are odd (1, 7, 33, 127)
 * plus sizes past the parallel threshold (so both threads and vector tails run). f32 results must agree to
 * ~1e-5 of the norm; conversions must agree bit for bit, special values included.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { refKernels } from "../../src/kernels/ref/index.ts";
import {
  assertNormClose,
  label,
  nativeVariants,
  norm,
  randArray,
  randBf16,
  rng,
  skipWithoutNative,
} from "./kernels-native-helpers.ts";

const LENGTHS = [1, 7, 33, 127, 40_003];
const ROWS_COLS: [number, number][] = [
  [1, 1],
  [7, 33],
  [33, 127],
  [127, 7],
  [300, 577],
];
const RTOL = 1e-5;

test("native elementwise kernels (addInPlace, addBias, biasBackward) match the reference", (t) => {
  if (skipWithoutNative(t)) return;
  const rand = rng(1);
  for (const n of LENGTHS) {
    const out0 = randArray(rand, n);
    const a = randArray(rand, n);
    const want = out0.slice();
    refKernels.addInPlace(want, a, n);
    for (const k of nativeVariants()) {
      const got = out0.slice();
      k.addInPlace(got, a, n);
      assertNormClose(`addInPlace n=${n} ${label(k)}`, got, want, RTOL);
    }
  }
  for (const [M, N] of ROWS_COLS) {
    const out0 = randArray(rand, M * N);
    const bias = randArray(rand, N);
    const db0 = randArray(rand, N);
    const want = out0.slice();
    refKernels.addBias(want, bias, M, N);
    const wantDb = db0.slice();
    refKernels.biasBackward(wantDb, out0, M, N);
    for (const k of nativeVariants()) {
      const got = out0.slice();
      k.addBias(got, bias, M, N);
      assertNormClose(`addBias ${M}x${N} ${label(k)}`, got, want, RTOL);
      const db = db0.slice();
      k.biasBackward(db, out0, M, N);
      assertNormClose(`biasBackward ${M}x${N} ${label(k)}`, db, wantDb, RTOL);
    }
  }
});

test("native RMSNorm forward/backward match the reference (in place, frozen weight)", (t) => {
  if (skipWithoutNative(t)) return;
  const rand = rng(2);
  for (const [N, C] of ROWS_COLS) {
    const x = randArray(rand, N * C, 3);
    const w = randArray(rand, C);
    const dout = randArray(rand, N * C);
    const wantOut = new Float32Array(N * C);
    const wantRstd = new Float32Array(N);
    refKernels.rmsnormForward(wantOut, wantRstd, x, w, N, C, 1e-5);
    const wantDx = new Float32Array(N * C);
    const dw0 = randArray(rand, C);
    const wantDw = dw0.slice();
    refKernels.rmsnormBackward(wantDx, wantDw, dout, x, w, wantRstd, N, C);
    // dx is a difference of two terms of size ~rstd·|dout·w| that cancel exactly when C = 1.
    const dxScale = RTOL * norm(dout) * Math.max(...w.map(Math.abs)) * Math.max(...wantRstd);
    for (const k of nativeVariants()) {
      const name = `${N}x${C} ${label(k)}`;
      const out = new Float32Array(N * C);
      const rstd = new Float32Array(N);
      k.rmsnormForward(out, rstd, x, w, N, C, 1e-5);
      assertNormClose(`rmsnormForward out ${name}`, out, wantOut, RTOL);
      assertNormClose(`rmsnormForward rstd ${name}`, rstd, wantRstd, RTOL);
      const inPlace = x.slice();
      k.rmsnormForward(inPlace, rstd, inPlace, w, N, C, 1e-5);
      assertNormClose(`rmsnormForward in place ${name}`, inPlace, wantOut, RTOL);
      const dx = new Float32Array(N * C);
      const dw = dw0.slice();
      k.rmsnormBackward(dx, dw, dout, x, w, wantRstd, N, C);
      assertNormClose(`rmsnormBackward dx ${name}`, dx, wantDx, RTOL, dxScale);
      assertNormClose(`rmsnormBackward dweight ${name}`, dw, wantDw, RTOL);
      const aliased = dout.slice();
      k.rmsnormBackward(aliased, null, aliased, x, w, wantRstd, N, C);
      assertNormClose(`rmsnormBackward dx=dout, frozen ${name}`, aliased, wantDx, RTOL, dxScale);
    }
  }
});

test("native RoPE forward/backward match the reference", (t) => {
  if (skipWithoutNative(t)) return;
  const rand = rng(3);
  const maxPos = 50;
  for (const [N, H, hd] of [
    [1, 1, 2],
    [7, 3, 6],
    [33, 2, 34],
    [127, 9, 64],
  ] as [number, number, number][]) {
    const half = hd / 2;
    const cos = new Float32Array(maxPos * half);
    const sin = new Float32Array(maxPos * half);
    for (let p = 0; p < maxPos; p++)
      for (let i = 0; i < half; i++) {
        const ang = p / 10000 ** (i / half);
        cos[p * half + i] = Math.cos(ang);
        sin[p * half + i] = Math.sin(ang);
      }
    const pos = Int32Array.from({ length: N }, () => Math.floor(rand() * maxPos));
    const x = randArray(rand, N * H * hd);
    const wantF = x.slice();
    refKernels.ropeForward(wantF, pos, cos, sin, N, H, hd);
    const wantB = x.slice();
    refKernels.ropeBackward(wantB, pos, cos, sin, N, H, hd);
    for (const k of nativeVariants()) {
      const f = x.slice();
      k.ropeForward(f, pos, cos, sin, N, H, hd);
      assertNormClose(`ropeForward ${N}x${H}x${hd} ${label(k)}`, f, wantF, RTOL);
      const b = x.slice();
      k.ropeBackward(b, pos, cos, sin, N, H, hd);
      assertNormClose(`ropeBackward ${N}x${H}x${hd} ${label(k)}`, b, wantB, RTOL);
    }
  }
  const k = nativeVariants([1])[0]!;
  const bad = new Int32Array([0, maxPos]);
  const tab = new Float32Array(maxPos);
  assert.throws(() => k.ropeForward(new Float32Array(4), bad, tab, tab, 2, 1, 2), /pos\[1\] = 50 is outside/);
});

test("native SwiGLU forward/backward match the reference (extreme gates, in place)", (t) => {
  if (skipWithoutNative(t)) return;
  const rand = rng(4);
  for (const n of LENGTHS) {
    const gate = randArray(rand, n, 8);
    if (n > 3) {
      gate[0] = 100;
      gate[1] = -100;
      gate[2] = -90;
    }
    const up = randArray(rand, n);
    const dout = randArray(rand, n);
    const want = new Float32Array(n);
    refKernels.swigluForward(want, gate, up, n);
    const wantDg = new Float32Array(n);
    const wantDu = new Float32Array(n);
    refKernels.swigluBackward(wantDg, wantDu, dout, gate, up, n);
    for (const k of nativeVariants()) {
      const out = new Float32Array(n);
      k.swigluForward(out, gate, up, n);
      assertNormClose(`swigluForward n=${n} ${label(k)}`, out, want, RTOL);
      const dg = gate.slice();
      const du = up.slice();
      k.swigluBackward(dg, du, dout, dg, du, n);
      assertNormClose(`swigluBackward dgate n=${n} ${label(k)}`, dg, wantDg, RTOL);
      assertNormClose(`swigluBackward dup n=${n} ${label(k)}`, du, wantDu, RTOL);
    }
  }
});

test("native embedding forward (f32, bf16) and backward (repeated ids) match the reference", (t) => {
  if (skipWithoutNative(t)) return;
  const rand = rng(5);
  for (const [N, C] of ROWS_COLS) {
    const V = 11;
    const ids = Int32Array.from({ length: N }, () => Math.floor(rand() * V));
    const table = randArray(rand, V * C);
    const tableBf = randBf16(rand, V * C);
    const dout = randArray(rand, N * C);
    const want = new Float32Array(N * C);
    refKernels.embeddingWForward(want, ids, table, "f32", N, C);
    const wantBf = new Float32Array(N * C);
    refKernels.embeddingWForward(wantBf, ids, tableBf, "bf16", N, C);
    const dt0 = randArray(rand, V * C);
    const wantDt = dt0.slice();
    refKernels.embeddingBackward(wantDt, dout, ids, N, C);
    for (const k of nativeVariants()) {
      const out = new Float32Array(N * C);
      k.embeddingWForward(out, ids, table, "f32", N, C);
      assert.deepEqual(out, want, `embeddingWForward f32 ${N}x${C} ${label(k)}`);
      k.embeddingWForward(out, ids, tableBf, "bf16", N, C);
      assert.deepEqual(out, wantBf, `embeddingWForward bf16 ${N}x${C} ${label(k)}`);
      const dt = dt0.slice();
      k.embeddingBackward(dt, dout, ids, N, C);
      assertNormClose(`embeddingBackward ${N}x${C} ${label(k)}`, dt, wantDt, RTOL);
    }
  }
  const k = nativeVariants([1])[0]!;
  assert.throws(
    () => k.embeddingWForward(new Float32Array(4), new Int32Array([0, 2]), new Float32Array(4), "f32", 2, 2),
    /ids\[1\] = 2 is outside/,
  );
});

test("native cross-entropy matches the reference (ignored rows, in place, no gradient)", (t) => {
  if (skipWithoutNative(t)) return;
  const rand = rng(6);
  for (const [N, V] of [
    [1, 1],
    [7, 33],
    [33, 127],
    [5, 2000],
    [40, 1537],
  ] as [number, number][]) {
    const logits = randArray(rand, N * V, 6);
    const targets = Int32Array.from({ length: N }, (_, i) => (i % 3 === 1 ? -100 : Math.floor(rand() * V)));
    const wantL = new Float32Array(N);
    const wantD = new Float32Array(N * V);
    const wantSum = refKernels.crossEntropy(wantL, wantD, logits, targets, N, V, 0.25);
    for (const k of nativeVariants()) {
      const name = `${N}x${V} ${label(k)}`;
      const losses = new Float32Array(N);
      const d = new Float32Array(N * V).fill(7);
      const sum = k.crossEntropy(losses, d, logits, targets, N, V, 0.25);
      assertNormClose(`crossEntropy losses ${name}`, losses, wantL, RTOL);
      assertNormClose(`crossEntropy dlogits ${name}`, d, wantD, RTOL);
      assert.ok(Math.abs(sum - wantSum) <= RTOL * Math.abs(wantSum) + 1e-6, `crossEntropy sum ${name}`);
      const inPlace = logits.slice();
      const losses2 = new Float32Array(N);
      k.crossEntropy(losses2, inPlace, inPlace, targets, N, V, 0.25);
      assertNormClose(`crossEntropy in place ${name}`, inPlace, wantD, RTOL);
      const losses3 = new Float32Array(N);
      const sum3 = k.crossEntropy(losses3, null, logits, targets, N, V, 0.25);
      assertNormClose(`crossEntropy no grad ${name}`, losses3, wantL, RTOL);
      assert.ok(Math.abs(sum3 - wantSum) <= RTOL * Math.abs(wantSum) + 1e-6, `crossEntropy no-grad sum ${name}`);
    }
  }
  const k = nativeVariants([1])[0]!;
  assert.throws(
    () => k.crossEntropy(new Float32Array(1), null, new Float32Array(3), new Int32Array([3]), 1, 3, 1),
    /targets\[0\] = 3 is neither -100/,
  );
});

test("native AdamW matches the reference over several steps (with weight decay)", (t) => {
  if (skipWithoutNative(t)) return;
  const rand = rng(7);
  for (const n of LENGTHS) {
    const p0 = randArray(rand, n);
    const grads = [randArray(rand, n), randArray(rand, n, 1e-3), randArray(rand, n, 10)];
    const want = { p: p0.slice(), m: new Float32Array(n), v: new Float32Array(n) };
    for (const [i, g] of grads.entries())
      refKernels.adamw(want.p, g, want.m, want.v, n, 1e-3, 0.9, 0.999, 1e-8, 0.01, i + 1);
    for (const k of nativeVariants()) {
      const got = { p: p0.slice(), m: new Float32Array(n), v: new Float32Array(n) };
      for (const [i, g] of grads.entries()) k.adamw(got.p, g, got.m, got.v, n, 1e-3, 0.9, 0.999, 1e-8, 0.01, i + 1);
      assertNormClose(`adamw param n=${n} ${label(k)}`, got.p, want.p, RTOL);
      assertNormClose(`adamw m n=${n} ${label(k)}`, got.m, want.m, RTOL);
      assertNormClose(`adamw v n=${n} ${label(k)}`, got.v, want.v, RTOL);
    }
  }
});

/** f32 inputs covering rounding ties, subnormals, overflow, infinities and NaN, plus random values. */
function conversionInputs(n: number): Float32Array {
  const bits = new Uint32Array(n);
  const special = [
    0x00000000, 0x80000000, 0x7f800000, 0xff800000, 0x7fc00000, 0xffc00001, 0x7f800001, 0x00000001, 0x807fffff,
    0x3f808000, 0x3f818000, 0x3f80ffff, 0x477fe000, 0x477ff000, 0x477fefff, 0x47800000, 0x38800000, 0x387fffff,
    0x33000000, 0x33000001, 0x337fffff, 0x33800000, 0x35001000, 0x7f7fffff,
  ];
  const rand = rng(8);
  for (let i = 0; i < n; i++) bits[i] = i < special.length ? special[i]! : Math.floor(rand() * 2 ** 32);
  return new Float32Array(bits.buffer);
}

test("native dtype conversions agree bit for bit with the reference", (t) => {
  if (skipWithoutNative(t)) return;
  for (const n of [1, 7, 33, 127, 40_003]) {
    const f = conversionInputs(Math.max(n, 40));
    const h = new Uint16Array(f.buffer, 0, Math.max(n, 40) * 2).slice(0, n); // every 16-bit pattern kind
    const input = f.subarray(0, n);
    const want = {
      bf: new Uint16Array(n),
      h: new Uint16Array(n),
      fromBf: new Float32Array(n),
      fromH: new Float32Array(n),
    };
    refKernels.f32ToBf16(want.bf, input, n);
    refKernels.f32ToF16(want.h, input, n);
    refKernels.bf16ToF32(want.fromBf, h, n);
    refKernels.f16ToF32(want.fromH, h, n);
    for (const k of nativeVariants()) {
      const name = `n=${n} ${label(k)}`;
      const bf = new Uint16Array(n);
      k.f32ToBf16(bf, input, n);
      assert.deepEqual(bf, want.bf, `f32ToBf16 ${name}`);
      const hh = new Uint16Array(n);
      k.f32ToF16(hh, input, n);
      assert.deepEqual(hh, want.h, `f32ToF16 ${name}`);
      const fb = new Float32Array(n);
      k.bf16ToF32(fb, h, n);
      assert.deepEqual(new Uint32Array(fb.buffer), new Uint32Array(want.fromBf.buffer), `bf16ToF32 ${name}`);
      const fh = new Float32Array(n);
      k.f16ToF32(fh, h, n);
      assert.deepEqual(new Uint32Array(fh.buffer), new Uint32Array(want.fromH.buffer), `f16ToF32 ${name}`);
    }
  }
});
