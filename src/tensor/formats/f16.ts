/**
 * f16: IEEE binary16, one value per Uint16Array element (GGUF's F16, safetensors' F16), and the scalar binary16
 * conversions the block formats' scales use. Widening is exact (NaN payloads kept); narrowing rounds to nearest
 * even, too large → ±inf, NaN → quiet NaN — the f32ToF16 kernel's and F16C's vcvtps2ph rounding.
 */
import { alignedUint16 } from "../aligned.ts";
import type { WeightFormat } from "./format.ts";

/** The f32 bits of the binary16 h (exact). */
export function f16BitsToF32Bits(h: number): number {
  const sign = (h & 0x8000) << 16;
  const exp = (h >>> 10) & 0x1f;
  const mant = h & 0x3ff;
  if (exp === 31) return (sign | 0x7f800000 | (mant << 13)) >>> 0;
  if (exp !== 0) return (sign | ((exp + 112) << 23) | (mant << 13)) >>> 0;
  if (mant === 0) return sign >>> 0;
  let e = 113; // subnormal: normalize mant · 2^-24
  let m = mant;
  while ((m & 0x400) === 0) {
    m <<= 1;
    e--;
  }
  return (sign | (e << 23) | ((m & 0x3ff) << 13)) >>> 0;
}

/** The binary16 encoding of the f32 with bits b (round to nearest even). */
export function f32BitsToF16(b: number): number {
  const sign = (b >>> 16) & 0x8000;
  const e = (b >>> 23) & 0xff;
  const m = b & 0x7fffff;
  if (e === 255) return m === 0 ? sign | 0x7c00 : sign | 0x7e00 | (m >>> 13);
  const E = e - 127;
  if (E > 15) return sign | 0x7c00;
  if (E >= -14) {
    // Normal: keep 10 mantissa bits; a carry out of the mantissa bumps the exponent (up to inf), as it should.
    let h = ((E + 15) << 10) | (m >>> 13);
    const rem = m & 0x1fff;
    if (rem > 0x1000 || (rem === 0x1000 && (h & 1) !== 0)) h++;
    return sign | h;
  }
  const s = -(E + 1); // subnormal result q · 2^-24, q = (m | 2^23) >> s
  if (e === 0 || s > 24) return sign;
  const full = m | 0x800000;
  let q = full >>> s;
  const rem = full & ((1 << s) - 1);
  const half = 1 << (s - 1);
  if (rem > half || (rem === half && (q & 1) !== 0)) q++;
  return sign | q;
}

export const F16: WeightFormat<Uint16Array> = {
  name: "f16",
  id: 1, // GGML_TYPE_F16
  blockValues: 1,
  blockBytes: 2,
  elementBytes: 2,
  fileDType: "F16",
  quantized: false,
  alloc: alignedUint16,
  toF32(out, data, from, n) {
    const o = new Uint32Array(out.buffer, out.byteOffset, n);
    for (let i = 0; i < n; i++) o[i] = f16BitsToF32Bits(data[from + i]!);
  },
  fromF32(data, from, src, n) {
    const x = new Uint32Array(src.buffer, src.byteOffset, n);
    for (let i = 0; i < n; i++) data[from + i] = f32BitsToF16(x[i]!);
  },
};
