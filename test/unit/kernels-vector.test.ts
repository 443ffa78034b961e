/**
 * The vector kernels (zero, copy, scale, axpy, mul, addMul, sumSquares, firstNonFinite): the loops the trainer, the
 * merge and the adapters ran in TypeScript before they became kernels. The reference must give the bits of those
 * loops (written out here as they were), and the native kernels the bits of the reference, on every ISA and thread
 * count, on odd sizes, with the scalars as the callers pass them (f64 values that are not f32 ones). `sum` (the
 * bench's read-bandwidth probe) alone is split over threads and checked within f32 rounding of its partial sums.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { refKernels as ref } from "../../src/kernels/ref/index.ts";
import type { Kernels } from "../../src/kernels/types.ts";
import { label, nativeVariants, randArray, rng, skipWithoutNative } from "./kernels-native-helpers.ts";

const SIZES = [0, 1, 2, 3, 7, 8, 15, 16, 17, 33, 64, 127, 1000, 4099, 70001];
/** f64 scalars as the callers make them: a clipping factor, a LoRA scale alpha/r, a negated one (unmerge). */
const SCALARS = [1 / 3, 16 / 7, -(32 / 24), 1, 0.9999999999];

/** Random values with a few exact zeros, tiny and huge ones (the arithmetic must round them the same way). */
function values(rand: () => number, n: number): Float32Array {
  const a = randArray(rand, n, 3);
  for (let i = 0; i < n; i += 13) a[i] = 0;
  for (let i = 5; i < n; i += 29) a[i] = (rand() - 0.5) * 1e-30;
  for (let i = 7; i < n; i += 31) a[i] = (rand() - 0.5) * 1e30;
  return a;
}

/** Each kernel next to the TypeScript loop it replaced (src/train/*.ts, src/lora/merge.ts, src/nn/linear.ts). */
function checkAgainstLoops(k: Kernels, n: number, rand: () => number, what: string): void {
  const a = values(rand, n);
  const b = values(rand, n);
  for (const s of SCALARS) {
    const want = a.slice();
    for (let i = 0; i < n; i++) want[i]! *= s; // trainer scaleGrads, LoRA scale()
    const got = a.slice();
    k.scale(got, n, s);
    assert.deepEqual(got, want, `${what} scale n=${n} s=${s}`);

    const w = a.slice();
    for (let i = 0; i < n; i++) w[i] = w[i]! + s * b[i]!; // merge: v = w[i] + s * delta[i]
    const gotW = a.slice();
    k.axpy(gotW, b, n, s);
    assert.deepEqual(gotW, w, `${what} axpy n=${n} s=${s}`);
  }
  const m = new Float32Array(n);
  for (let i = 0; i < n; i++) m[i] = a[i]! * b[i]!; // dropout: xd[i] = x[i] * ds[i]
  const gotM = new Float32Array(n);
  k.mul(gotM, a, b, n);
  assert.deepEqual(gotM, m, `${what} mul n=${n}`);
  const alias = a.slice();
  k.mul(alias, alias, b, n);
  assert.deepEqual(alias, m, `${what} mul in place n=${n}`);

  const dx = values(rand, n);
  const wantDx = dx.slice();
  for (let i = 0; i < n; i++) wantDx[i]! += a[i]! * b[i]!; // dropout backward: dx[i] += tmp[i] * ds[i]
  k.addMul(dx, a, b, n);
  assert.deepEqual(dx, wantDx, `${what} addMul n=${n}`);

  let sum = 0.125; // continuing a previous tensor's sum, as gradNorm does across parameters
  for (let i = 0; i < n; i++) sum += a[i]! * a[i]!;
  assert.equal(k.sumSquares(a, n, 0.125), sum, `${what} sumSquares n=${n}`);

  const z = values(rand, n + 1);
  z[n] = 7;
  k.zero(z, n);
  assert.ok(
    z.subarray(0, n).every((v) => Object.is(v, 0)),
    `${what} zero n=${n}`,
  );
  assert.equal(z[n], 7, `${what} zero wrote past n`);

  const dst = values(rand, n + 1);
  const tail = dst[n];
  k.copy(dst, a, n); // KV cache: cache.set(k.subarray(0, n), at)
  assert.deepEqual(dst.subarray(0, n), a, `${what} copy n=${n}`);
  assert.equal(dst[n], tail, `${what} copy wrote past n`);

  assert.equal(k.firstNonFinite(a, n), -1, `${what} firstNonFinite (all finite) n=${n}`);
  for (const bad of [Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY]) {
    for (const at of n > 0 ? [n - 1, Math.floor(n / 2), 0] : []) {
      const c = a.slice();
      c[at] = bad;
      if (at + 1 < n) c[n - 1] = Number.NaN; // a later one must not win
      assert.equal(k.firstNonFinite(c, n), at, `${what} firstNonFinite ${bad} at ${at} n=${n}`);
      assert.equal(k.firstNonFinite(c, at), -1, `${what} firstNonFinite stops at n`);
    }
  }
}

test("reference vector kernels give the bits of the TypeScript loops they replace", () => {
  const rand = rng(21);
  for (const n of SIZES) checkAgainstLoops(ref, n, rand, "ref");
});

test("native vector kernels give the bits of the reference on every ISA and thread count", (t) => {
  if (skipWithoutNative(t)) return;
  for (const k of nativeVariants([1, 2])) {
    const rand = rng(22);
    for (const n of SIZES) checkAgainstLoops(k, n, rand, label(k));
  }
});

test("native vector kernels read and write through subarray views and reject short arrays", (t) => {
  if (skipWithoutNative(t)) return;
  const rand = rng(23);
  const buf = values(rand, 100);
  const other = values(rand, 100);
  for (const k of nativeVariants([2])) {
    const a = buf.slice();
    const want = buf.slice();
    ref.axpy(want.subarray(3, 90), other.subarray(5), 87, 0.3);
    k.axpy(a.subarray(3, 90), other.subarray(5), 87, 0.3);
    assert.deepEqual(a, want, `axpy subarray ${label(k)}`);
    assert.equal(k.sumSquares(buf.subarray(9), 50, 1), ref.sumSquares(buf.subarray(9), 50, 1));
    const f = (n: number) => new Float32Array(n);
    assert.throws(() => k.scale(f(3), 4, 2), /out has 3 elements, needs at least 4/);
    assert.throws(() => k.axpy(f(4), f(3), 4, 2), /a has 3 elements/);
    assert.throws(() => k.sumSquares(f(3), 4, 0), /a has 3 elements/);
    assert.throws(() => k.zero(new Uint16Array(4) as unknown as Float32Array, 4), /out must be a Float32Array/);
  }
});

test("native sum is within f32 rounding of the reference's f64 sum on every ISA and thread count", (t) => {
  if (skipWithoutNative(t)) return;
  const rand = rng(29);
  for (const n of [...SIZES, 300_007]) {
    const a = randArray(rand, n, 3);
    const want = ref.sum(a, n);
    let absSum = 0;
    for (let i = 0; i < n; i++) absSum += Math.abs(a[i]!);
    for (const k of nativeVariants([1, 2, 4])) {
      const got = k.sum(a, n);
      assert.ok(Math.abs(got - want) <= 1e-5 * absSum, `sum n=${n} ${label(k)}: got ${got}, expected ${want}`);
    }
  }
  // The bound is tight enough to see a lost chunk: dropping the last 1024 values fails it.
  const n = 300_007;
  const a = randArray(rand, n, 3).map((x) => Math.abs(x) + 0.5);
  let absSum = 0;
  for (let i = 0; i < n; i++) absSum += a[i]!;
  assert.ok(Math.abs(ref.sum(a, n - 1024) - ref.sum(a, n)) > 1e-5 * absSum);
});

test("native sum propagates a NaN and reads through subarray views", (t) => {
  if (skipWithoutNative(t)) return;
  const rand = rng(31);
  const a = randArray(rand, 5000, 1);
  for (const k of nativeVariants([1, 2])) {
    assert.ok(Math.abs(k.sum(a.subarray(7), 4000) - ref.sum(a.subarray(7), 4000)) <= 1e-4, `subarray ${label(k)}`);
    const bad = a.slice();
    bad[4321] = Number.NaN;
    assert.ok(Number.isNaN(k.sum(bad, bad.length)), `NaN ${label(k)}`);
    assert.throws(() => k.sum(new Float32Array(3), 4), /a has 3 elements/);
  }
});
