/** f32 / bf16 / f16 conversions of src/io/dtype.ts, against value-based oracles (nearest, ties to even). */
import assert from "node:assert/strict";
import { test } from "node:test";
import { bf16ToF32, f16BitsToF32, f16ToBf16, f16ToF32, f32BitsToF16, f32ToBf16, f32ToF16 } from "../../src/io/dtype.ts";

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);
function bitsOf(x: number): number {
  f32[0] = x;
  return u32[0]!;
}
function valueOfBits(b: number): number {
  u32[0] = b >>> 0;
  return f32[0]!;
}
const bf16Value = (h: number) => valueOfBits(h << 16);

/** Oracle: nearest bf16 to the finite f32 x, by comparing the two neighbours' values; ties to even. */
function nearestBf16(x: number): number {
  const lo = bitsOf(x) >>> 16; // truncation: same sign, magnitude ≤ |x|
  const hi = lo + 1; // next magnitude up (may be inf: 0x7f80 / 0xff80)
  const dLo = Math.abs(x - bf16Value(lo));
  const dHi = Math.abs(bf16Value(hi) - x);
  if ((hi & 0x7fff) === 0x7f80) {
    // Overflow threshold: halfway between the largest finite bf16 and 2^128 (as if the exponent continued).
    const bound = bf16Value(lo) + 2 ** (Math.floor(Math.log2(Math.abs(x))) - 7);
    return Math.abs(x) >= Math.abs(bound) ? hi : lo;
  }
  if (dLo < dHi) return lo;
  if (dHi < dLo) return hi;
  return (lo & 1) === 0 ? lo : hi;
}

/** Random finite f32 values spread over exponents, plus values sitting exactly on bf16 ties. */
function sampleF32(count: number, seed: number): Float32Array {
  let s = seed >>> 0;
  const rnd = () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s;
  };
  const out = new Float32Array(count);
  for (let i = 0; i < count; i++) {
    let b = rnd();
    if ((b & 0x7f800000) === 0x7f800000) b &= 0xbfffffff; // keep finite
    if (i % 4 === 0) b = (b & 0xffff0000) | 0x8000; // exact tie between two bf16 values
    out[i] = valueOfBits(b);
  }
  return out;
}

test("bf16 → f32 → bf16 is the identity on every non-NaN pattern; NaN stays NaN with its sign", () => {
  const all = new Uint16Array(65536).map((_, i) => i);
  const wide = new Float32Array(65536);
  bf16ToF32(wide, all, all.length);
  const back = new Uint16Array(65536);
  f32ToBf16(back, wide, wide.length);
  for (let h = 0; h < 65536; h++) {
    if ((h & 0x7fff) > 0x7f80) {
      assert.ok(Number.isNaN(wide[h]), `bf16 ${h.toString(16)} should be NaN`);
      assert.ok((back[h]! & 0x7fff) > 0x7f80 && (back[h]! & 0x8000) === (h & 0x8000), `NaN ${h.toString(16)}`);
    } else assert.equal(back[h], h, `pattern 0x${h.toString(16)}`);
  }
});

test("f32 → bf16 rounds to nearest even (oracle on random values and exact ties)", () => {
  const xs = sampleF32(20000, 7);
  const got = new Uint16Array(xs.length);
  f32ToBf16(got, xs, xs.length);
  for (let i = 0; i < xs.length; i++) {
    assert.equal(got[i], nearestBf16(xs[i]!), `x=${xs[i]} bits=0x${bitsOf(xs[i]!).toString(16)}`);
  }
  const fixed = new Float32Array([1 + 2 ** -8, 1 + 3 * 2 ** -8, 1 + 2 ** -8 + 2 ** -20, -0, 3.4028234663852886e38]);
  const out = new Uint16Array(fixed.length);
  f32ToBf16(out, fixed, fixed.length);
  assert.deepEqual([...out], [0x3f80, 0x3f82, 0x3f81, 0x8000, 0x7f80]);
});

test("f16 → f32 decodes known values exactly", () => {
  const cases: [number, number][] = [
    [0x3c00, 1],
    [0xc000, -2],
    [0x7bff, 65504],
    [0x0001, 2 ** -24],
    [0x03ff, 1023 * 2 ** -24],
    [0x0400, 2 ** -14],
    [0x3555, 0.333251953125],
    [0x7c00, Number.POSITIVE_INFINITY],
    [0xfc00, Number.NEGATIVE_INFINITY],
  ];
  for (const [h, v] of cases) assert.equal(f16BitsToF32(h), v, `0x${h.toString(16)}`);
  assert.ok(Object.is(f16BitsToF32(0x8000), -0));
  assert.ok(Number.isNaN(f16BitsToF32(0x7e00)));
});

test("f16 → f32 → f16 is the identity on every non-NaN pattern", () => {
  const all = new Uint16Array(65536).map((_, i) => i);
  const wide = new Float32Array(65536);
  f16ToF32(wide, all, all.length);
  const back = new Uint16Array(65536);
  f32ToF16(back, wide, wide.length);
  for (let h = 0; h < 65536; h++) {
    assert.equal(wide[h], Math.fround(f16BitsToF32(h)));
    if ((h & 0x7fff) > 0x7c00) assert.ok((back[h]! & 0x7fff) > 0x7c00, `NaN 0x${h.toString(16)}`);
    else assert.equal(back[h], h, `pattern 0x${h.toString(16)}`);
  }
});

test("f32 → f16 rounds to nearest even with subnormals and overflow (brute-force oracle)", () => {
  // Non-negative finite f16 values in increasing order; bits = index. 65536 stands for the overflow step.
  const values: number[] = [];
  for (let h = 0; h < 0x7c00; h++) values.push(f16BitsToF32(h));
  values.push(65536);
  const oracle = (x: number): number => {
    const a = Math.abs(x);
    const sign = x < 0 || Object.is(x, -0) ? 0x8000 : 0;
    let lo = 0;
    let hi = values.length - 1;
    if (a >= values[hi]!) return sign | 0x7c00;
    while (hi - lo > 1) {
      const mid = (lo + hi) >> 1;
      if (values[mid]! <= a) lo = mid;
      else hi = mid;
    }
    const dLo = a - values[lo]!;
    const dHi = values[hi]! - a;
    const pick = dLo < dHi ? lo : dHi < dLo ? hi : lo % 2 === 0 ? lo : hi;
    return sign | pick;
  };
  const xs: number[] = [0, -0, 65504, 65519.99, 65520, -65520, 2 ** -24, 2 ** -25, 2 ** -25 * 1.0001, 3 * 2 ** -25];
  for (let h = 0; h < 0x7bff; h += 7) xs.push((values[h]! + values[h + 1]!) / 2); // exact ties
  let s = 12345;
  for (let i = 0; i < 20000; i++) {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    xs.push(((s / 2 ** 32) * 2 - 1) * 2 ** ((i % 46) - 28)); // |x| from ~2^-28 to 2^17
  }
  const inp = new Float32Array(xs);
  const out = new Uint16Array(inp.length);
  f32ToF16(out, inp, inp.length);
  for (let i = 0; i < inp.length; i++) assert.equal(out[i], oracle(inp[i]!), `x=${inp[i]}`);
  assert.equal(f32BitsToF16(bitsOf(Number.NEGATIVE_INFINITY)), 0xfc00);
  assert.equal(f32BitsToF16(bitsOf(1e-45)) & 0x7fff, 0); // f32 subnormal
});

test("f16 → bf16 equals the nearest bf16 of the exact f16 value", () => {
  const all = new Uint16Array(65536).map((_, i) => i);
  const out = new Uint16Array(65536);
  f16ToBf16(out, all, all.length);
  for (let h = 0; h < 65536; h++) {
    const v = f16BitsToF32(h);
    if (Number.isNaN(v)) assert.ok((out[h]! & 0x7fff) > 0x7f80);
    else if (!Number.isFinite(v)) assert.equal(out[h], h & 0x8000 ? 0xff80 : 0x7f80);
    else assert.equal(out[h], nearestBf16(v), `f16 0x${h.toString(16)}`);
  }
  assert.equal(out[0x3c04], 0x3f80); // 1 + 2^-8: tie, to even
  assert.equal(out[0x3c0c], 0x3f82); // 1 + 3·2^-8: tie, to even (up)
});
