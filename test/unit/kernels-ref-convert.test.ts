/** Reference dtype conversions on edge values and exhaustively over all 16-bit patterns. */
import assert from "node:assert/strict";
import { test } from "node:test";
import { refKernels as ref } from "../../src/kernels/ref/index.ts";

/** The f32 with the given bits. */
function f32(bits: number): number {
  const dv = new DataView(new ArrayBuffer(4));
  dv.setUint32(0, bits >>> 0);
  return dv.getFloat32(0);
}

/** Bits of the f32 nearest to x. */
function bitsOf(x: number): number {
  const dv = new DataView(new ArrayBuffer(4));
  dv.setFloat32(0, x);
  return dv.getUint32(0);
}

function toBf16(values: number[]): number[] {
  const out = new Uint16Array(values.length);
  ref.f32ToBf16(out, Float32Array.from(values), values.length);
  return [...out];
}

function toF16(values: number[]): number[] {
  const out = new Uint16Array(values.length);
  ref.f32ToF16(out, Float32Array.from(values), values.length);
  return [...out];
}

function fromF16(bits: number[]): number[] {
  const out = new Float32Array(bits.length);
  ref.f16ToF32(out, Uint16Array.from(bits), bits.length);
  return [...out];
}

/** Independent binary16 decoder (arithmetic, not bits). */
function decodeF16(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const m = h & 0x3ff;
  if (e === 0) return sign * m * 2 ** -24;
  if (e === 31) return m === 0 ? sign * Number.POSITIVE_INFINITY : Number.NaN;
  return sign * 2 ** (e - 15) * (1 + m / 1024);
}

test("bf16 → f32 edge values", () => {
  const bits = [0x0000, 0x8000, 0x0001, 0x0080, 0x3f80, 0xc000, 0x7f7f, 0x7f80, 0xff80, 0x7fc0, 0xff81];
  const out = new Float32Array(bits.length);
  ref.bf16ToF32(out, Uint16Array.from(bits), bits.length);
  assert.ok(Object.is(out[0], 0) && Object.is(out[1], -0));
  assert.equal(out[2], 2 ** -133); // smallest bf16 subnormal
  assert.equal(out[3], 2 ** -126); // smallest normal
  assert.equal(out[4], 1);
  assert.equal(out[5], -2);
  assert.equal(out[6], 255 * 2 ** 120); // largest finite bf16 (0x7f7f): (1 + 127/128) · 2^127
  assert.equal(out[7], Number.POSITIVE_INFINITY);
  assert.equal(out[8], Number.NEGATIVE_INFINITY);
  assert.ok(Number.isNaN(out[9]) && Number.isNaN(out[10]));
});

test("f32 → bf16 rounds to nearest even and keeps NaN", () => {
  const cases: [number, number][] = [
    [0x00000000, 0x0000],
    [0x80000000, 0x8000], // -0
    [0x3f800000, 0x3f80], // 1
    [0x3f808000, 0x3f80], // tie, even below
    [0x3f818000, 0x3f82], // tie, odd below → up
    [0x3f808001, 0x3f81], // just above the tie
    [0x3f807fff, 0x3f80], // just below the tie
    [0xbf818000, 0xbf82], // negative tie
    [0x00000001, 0x0000], // f32 subnormal → 0
    [0x00008000, 0x0000], // subnormal tie, even
    [0x00018000, 0x0002], // subnormal tie, odd → up
    [0x7f7f7fff, 0x7f7f], // just below the top tie: largest bf16
    [0x7f7fffff, 0x7f80], // f32 max rounds to inf (as torch does)
    [0x7f800000, 0x7f80], // inf
    [0xff800000, 0xff80], // -inf
  ];
  const got = toBf16(cases.map(([b]) => f32(b)));
  for (const [i, [b, want]] of cases.entries()) assert.equal(got[i], want, `f32 bits 0x${b.toString(16)}`);
  // NaNs whose payload sits only in the low 16 bits must not turn into inf; sign is kept.
  const nanIn = new Float32Array(new Uint32Array([0x7f800001, 0xff800001, 0x7fc00000]).buffer);
  const nanOut = new Uint16Array(3);
  ref.f32ToBf16(nanOut, nanIn, 3);
  for (const h of nanOut) assert.ok((h & 0x7f80) === 0x7f80 && (h & 0x7f) !== 0, `NaN → 0x${h.toString(16)}`);
  assert.equal(nanOut[1]! & 0x8000, 0x8000);
});

test("bf16 round trip is exact for every non-NaN pattern", () => {
  const all = new Uint16Array(65536);
  for (let i = 0; i < 65536; i++) all[i] = i;
  const f = new Float32Array(65536);
  ref.bf16ToF32(f, all, 65536);
  const back = new Uint16Array(65536);
  ref.f32ToBf16(back, f, 65536);
  for (let i = 0; i < 65536; i++) {
    if ((i & 0x7fff) > 0x7f80) assert.ok(Number.isNaN(f[i]) && (back[i]! & 0x7fff) > 0x7f80);
    else assert.equal(back[i], i);
  }
});

test("f16 → f32 is exact for all 65536 patterns (subnormals, ±0, inf, NaN)", () => {
  const all = Array.from({ length: 65536 }, (_, i) => i);
  const got = fromF16(all);
  for (let h = 0; h < 65536; h++) {
    const want = decodeF16(h);
    if (Number.isNaN(want)) assert.ok(Number.isNaN(got[h]), `0x${h.toString(16)}`);
    else assert.ok(Object.is(got[h], want), `0x${h.toString(16)}: got ${got[h]}, want ${want}`);
  }
  assert.deepEqual(fromF16([0x0001, 0x03ff, 0x0400, 0x7bff, 0x3c00]), [2 ** -24, 1023 * 2 ** -24, 2 ** -14, 65504, 1]);
});

test("f32 → f16 edge values: overflow to inf, underflow, ties, NaN", () => {
  const cases: [number, number][] = [
    [0, 0x0000],
    [-0, 0x8000],
    [1, 0x3c00],
    [-2, 0xc000],
    [65504, 0x7bff], // max
    [65519.99, 0x7bff], // below the max/inf midpoint
    [65520, 0x7c00], // midpoint ties to even → inf
    [1e6, 0x7c00],
    [-1e6, 0xfc00],
    [Number.POSITIVE_INFINITY, 0x7c00],
    [Number.NEGATIVE_INFINITY, 0xfc00],
    [2 ** -24, 0x0001], // smallest subnormal
    [2 ** -25, 0x0000], // half of it: tie → even (0)
    [f32(bitsOf(2 ** -25) + 1), 0x0001], // just above the tie
    [3 * 2 ** -25, 0x0002], // 1.5 ulp: tie → even (2)
    [2 ** -14, 0x0400], // smallest normal
    [2 ** -14 - 2 ** -25, 0x0400], // tie between largest subnormal (odd) and smallest normal → up
    [1e-10, 0x0000],
    [-1e-10, 0x8000],
    [f32(0x00000001), 0x0000], // f32 subnormal
    [1 + 2 ** -11, 0x3c00], // tie at 1: even stays
    [1 + 3 * 2 ** -11, 0x3c02], // tie above odd mantissa → up
    [2047 * 2 ** -10, 0x3fff], // 1.9990234375 = 1 + 1023/1024 exactly
    [4095 * 2 ** -11, 0x4000], // tie at top of binade carries into the exponent
  ];
  const got = toF16(cases.map(([x]) => x));
  for (const [i, [x, want]] of cases.entries()) {
    assert.equal(got[i], want, `${x} → 0x${got[i]!.toString(16)}, want 0x${want.toString(16)}`);
  }
  const nanIn = new Float32Array(new Uint32Array([0x7f800001, 0xffc00000, 0x7fffffff]).buffer);
  const nanOut = new Uint16Array(3);
  ref.f32ToF16(nanOut, nanIn, 3);
  for (const h of nanOut) assert.ok((h & 0x7c00) === 0x7c00 && (h & 0x3ff) !== 0, `NaN → 0x${h.toString(16)}`);
});

test("f32 → f16 exhaustively: round trips, and every midpoint rounds to the even neighbour", () => {
  // Consecutive positive finite f16 values h, h+1 (including subnormal → normal and max → inf).
  const n = 0x7c00;
  const lo = new Float32Array(n);
  const mid = new Float32Array(n);
  const above = new Float32Array(n);
  const below = new Float32Array(n);
  for (let h = 0; h < n; h++) {
    const a = decodeF16(h);
    const b = h + 1 === 0x7c00 ? 65536 : decodeF16(h + 1); // the inf boundary behaves as if 2^16 were next
    lo[h] = a;
    mid[h] = (a + b) / 2; // exact in f32 (12 significant bits)
    above[h] = f32(bitsOf(mid[h]!) + 1);
    below[h] = f32(bitsOf(mid[h]!) - 1);
  }
  const outs = [lo, mid, above, below].map((arr) => {
    const o = new Uint16Array(n);
    ref.f32ToF16(o, arr, n);
    return o;
  });
  const [rLo, rMid, rAbove, rBelow] = outs as [Uint16Array, Uint16Array, Uint16Array, Uint16Array];
  for (let h = 0; h < n; h++) {
    assert.equal(rLo[h], h, `round trip 0x${h.toString(16)}`);
    const even = h % 2 === 0 ? h : h + 1;
    assert.equal(rMid[h], even, `midpoint above 0x${h.toString(16)}`);
    assert.equal(rAbove[h], h + 1, `just above midpoint 0x${h.toString(16)}`);
    assert.equal(rBelow[h], h, `just below midpoint 0x${h.toString(16)}`);
  }
  // Negative values mirror positive ones with the sign bit.
  const negOut = new Uint16Array(n);
  ref.f32ToF16(
    negOut,
    lo.map((x) => -x),
    n,
  );
  for (let h = 1; h < n; h++) assert.equal(negOut[h], h | 0x8000);
});
