/**
 * The block formats (q8_0, q4_0, q4_k, q5_k, q6_k) against hand-computed blocks — ggml's layouts byte for byte, its
 * rounding rules (roundf's ties away from zero in q8_0, the f32 scale rounded to binary16 for storage, q4_0's
 * truncation, the 6-bit scale packing of get_scale_min_k4) — and each format's round-trip error within its bound.
 * (Native parity, bit for bit, is in weight-formats.test.ts; matmul parity in kernels-native-matmul.test.ts.)
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { Q4_0, Q4_K, Q5_K, Q6_K, Q8_0, type WeightFormat } from "../../src/tensor/formats/index.ts";
import { getScaleMinK4, packScaleMinK4 } from "../../src/tensor/formats/kquant-search.ts";
import { randArray, rng } from "./kernels-native-helpers.ts";

function encode(f: WeightFormat, x: Float32Array): Uint8Array {
  const d = f.alloc(x.length) as Uint8Array;
  f.fromF32(d, 0, x, x.length);
  return d;
}

function decode(f: WeightFormat, d: Uint8Array, n: number): Float32Array {
  const out = new Float32Array(n);
  f.toF32(out, d, 0, n);
  return out;
}

test("q8_0: d = amax/127 stored as binary16 (ties to even), q = roundf(x/d) with ties away from zero", () => {
  const x = new Float32Array(32);
  x.set([-127, 2.5, -2.5, 0.5, -0.5, 1.4999999, 126.5, 3]);
  const d = encode(Q8_0, x);
  assert.deepEqual([...d.subarray(0, 10)], [0x00, 0x3c, 129, 3, 253, 1, 255, 1, 127, 3]);
  assert.equal(d.length, 34);
  assert.deepEqual([...decode(Q8_0, d, 32).subarray(0, 8)], [-127, 3, -3, 1, -1, 1, 127, 3]);
  // amax = 127·(1 + 2^-11): d = 1 + 2^-11 in f32 is halfway between binary16 1 and 1 + 2^-10 → stored as 1 (even),
  // while q uses the f32 d: x = amax → q = 127 exactly.
  const y = new Float32Array(32);
  y[5] = 127 * (1 + 2 ** -11);
  const e = encode(Q8_0, y);
  assert.deepEqual([e[0], e[1], e[2 + 5]], [0x00, 0x3c, 127]);
  assert.deepEqual([...encode(Q8_0, new Float32Array(32))], new Array(34).fill(0));
});

test("q4_0: d = max/−8 (max the value of largest magnitude), q = min(15, trunc(x/d + 8.5)), nibbles j | j+16", () => {
  const x = new Float32Array(32);
  x.set([-8, 7, 7.6, 0, -0.6, 3.49]);
  x[16] = 1;
  x[17] = -1;
  const d = encode(Q4_0, x);
  // d = −8/−8 = 1 (binary16 0x3c00); q: −8 → 0, 7 → 15, 7.6 → 15 (16 clamped), 0 → 8, −0.6 → 7, 3.49 → 11.
  assert.deepEqual(
    [...d.subarray(0, 8)],
    [0x00, 0x3c, 0 | (9 << 4), 15 | (7 << 4), 15 | (8 << 4), 8 | (8 << 4), 7 | (8 << 4), 11 | (8 << 4)],
  );
  const v = decode(Q4_0, d, 32);
  assert.deepEqual([...v.subarray(0, 6)], [-8, 7, 7, 0, -1, 3]);
  assert.deepEqual([v[16], v[17]], [1, -1]);
});

test("q4_k: scales and mins at 6 bits in get_scale_min_k4's layout; values d·sc·q − dmin·m by chunk of 64", () => {
  const ls = Uint8Array.from([1, 2, 3, 63, 17, 33, 48, 5]);
  const lm = Uint8Array.from([0, 9, 62, 4, 40, 1, 16, 63]);
  const q = new Uint8Array(12);
  packScaleMinK4(q, 0, ls, lm);
  for (let j = 0; j < 8; j++) assert.deepEqual(getScaleMinK4(j, q, 0), [ls[j], lm[j]], `sub-block ${j}`);
  // One hand-made super-block: d = 0.5, dmin = 0.25, qs[32c + l] = (l & 15) | ((15 − (l & 15)) << 4).
  const b = new Uint8Array(144);
  b.set([0x00, 0x38, 0x00, 0x34], 0);
  b.set(q, 4);
  for (let i = 0; i < 128; i++) b[16 + i] = (i & 15) | ((15 - (i & 15)) << 4);
  const v = decode(Q4_K, b, 256);
  for (const [i, want] of [
    [0, 0.5 * 1 * 0 - 0.25 * 0], // chunk 0, low nibble, sub-block 0
    [5, 0.5 * 1 * 5 - 0],
    [32 + 5, 0.5 * 2 * 10 - 0.25 * 9], // high nibble of qs[5], sub-block 1
    [64 + 3, 0.5 * 3 * 3 - 0.25 * 62],
    [96 + 1, 0.5 * 63 * 14 - 0.25 * 4],
    [128 + 15, 0.5 * 17 * 15 - 0.25 * 40],
    [192 + 31, 0.5 * 48 * 15 - 0.25 * 16], // qs[96 + 31] low nibble is 15
    [224 + 31, 0.5 * 5 * 0 - 0.25 * 63],
  ] as [number, number][])
    assert.equal(v[i], want, `value ${i}`);
});

test("q5_k and q6_k: the fifth bit from qh, Q6_K's 2 high bits and int8 scales", () => {
  const b5 = new Uint8Array(176);
  b5.set([0x00, 0x3c, 0x00, 0x00], 0); // d = 1, dmin = 0
  packScaleMinK4(b5, 4, Uint8Array.from([1, 1, 1, 1, 1, 1, 1, 2]), new Uint8Array(8));
  b5[16 + 3] = 0b1000_0001; // fifth bit of value 3 (sub-block 0) and of value 224 + 3 (sub-block 7)
  b5[48 + 3] = 0x72; // low nibble 2 (value 3), high nibble 7 (value 32 + 3)
  b5[48 + 96 + 3] = 0x90; // high nibble 9: value 224 + 3
  const v5 = decode(Q5_K, b5, 256);
  assert.deepEqual([v5[3], v5[35], v5[227]], [18, 7, 2 * (9 + 16)]);

  const b6 = new Uint8Array(210);
  b6.set([0x00, 0x40], 208); // d = 2
  for (let s = 0; s < 16; s++) b6[192 + s] = (s - 8) & 0xff; // scales −8 … 7
  b6[5] = 0x3a; // ql[5]: low 10 (value 5), high 3 (value 64 + 5)
  b6[128 + 5] = 0b11_10_01_00; // qh[5]: value 5 +0, value 32+5 +16, value 64+5 +32, value 96+5 +48
  b6[32 + 5] = 0xf0; // ql[32 + 5]: value 32+5 low 0, value 96+5 high 15
  b6[64 + 20] = 0x01; // second half: value 128 + 20 low 1, sub-block 8 + 1
  const v6 = decode(Q6_K, b6, 256);
  // value = d · scale[8h + l/16 + 2i] · (level − 32)
  assert.deepEqual(
    [v6[5], v6[37], v6[69], v6[101], v6[148]],
    [2 * -8 * (10 - 32), 2 * -6 * (16 - 32), 2 * -4 * (35 - 32), 2 * -2 * (63 - 32), 2 * 1 * (1 - 32)],
  );
});

test("every block format round-trips within its error bound, zeros stay zeros", () => {
  // Largest |error| per block, as a fraction of the block's largest |x|: half a step of the level grid, with
  // room for the refit scales (K-quants) and the binary16 scales.
  const bounds: [WeightFormat, number][] = [
    [Q8_0, 0.5 / 127 + 2 ** -10],
    [Q4_0, 1 / 8],
    [Q4_K, 2 / 15],
    [Q5_K, 2 / 31],
    [Q6_K, 1 / 31],
  ];
  const rand = rng(21);
  for (const [f, bound] of bounds) {
    const n = 4096;
    for (const spread of [1, 0.05, 50]) {
      // (Not much smaller: below amax ≈ 8e-3 Q8_0's binary16 d turns subnormal and loses relative precision.)
      const x = randArray(rand, n, spread);
      for (let i = 0; i < n; i += 97) x[i] = x[i]! * 4; // a few outliers
      const back = decode(f, encode(f, x), n);
      for (let b = 0; b < n; b += f.blockValues) {
        let amax = 0;
        let err = 0;
        for (let i = b; i < b + f.blockValues; i++) {
          amax = Math.max(amax, Math.abs(x[i]!));
          err = Math.max(err, Math.abs(back[i]! - x[i]!));
        }
        assert.ok(
          err <= bound * amax,
          `${f.name} spread ${spread} block ${b / f.blockValues}: ${err} > ${bound}·${amax}`,
        );
      }
    }
    const zeros = decode(f, encode(f, new Float32Array(f.blockValues)), f.blockValues);
    assert.ok(
      zeros.every((v) => v === 0),
      `${f.name}: zeros`,
    ); // q4_0's d = 0/−8 is −0: its zeros are ±0
  }
});
