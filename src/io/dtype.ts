/**
 * Scalar float conversions used by the file readers and writers (io only), self-contained so that io does not
 * depend on the compute backend. All arrays hold host-order values; callers pass views (`subarray`) to work on
 * chunks. Conventions as in src/kernels/types.ts: bf16 and f16 tensors are `Uint16Array`s of raw bits; bf16 is
 * the upper 16 bits of an IEEE f32.
 *
 * Rounding is round-to-nearest-even everywhere; NaN stays NaN (quiet, sign kept); f16 overflow goes to ±inf.
 */

import { f32BitsToBf16 } from "../tensor/formats/bf16.ts";

// bf16 is a weight format (tensor/formats/bf16.ts); its conversions are re-exported for the readers and writers.
export { bf16ToF32, f32BitsToBf16, f32ToBf16 } from "../tensor/formats/bf16.ts";

/** f32 value of the f16 bits `h`; exact for normals, subnormals, ±0, ±inf and NaN. */
export function f16BitsToF32(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >>> 10) & 0x1f;
  const mant = h & 0x3ff;
  if (exp === 0) return sign * mant * 2 ** -24; // zero or subnormal: mant · 2^-24
  if (exp === 31) return mant === 0 ? sign * Number.POSITIVE_INFINITY : Number.NaN;
  return sign * (1024 + mant) * 2 ** (exp - 25); // (1 + mant/1024) · 2^(exp-15)
}

/** Lazily built table of all 65536 f16 → f32 values (256 KiB), so that conversion is one load per element. */
let f16Table: Float32Array | undefined;

function getF16Table(): Float32Array {
  if (f16Table === undefined) {
    const t = new Float32Array(65536);
    const bits = new Uint32Array(t.buffer);
    for (let h = 0; h < 65536; h++) {
      const exp = (h >>> 10) & 0x1f;
      const mant = h & 0x3ff;
      // NaN: keep sign and payload bits explicitly (arithmetic would canonicalize them).
      if (exp === 31 && mant !== 0) bits[h] = ((h & 0x8000) << 16) | 0x7f800000 | (mant << 13) | 0x400000;
      else t[h] = f16BitsToF32(h);
    }
    f16Table = t;
  }
  return f16Table;
}

/** out[i] = f32(f16 bits inp[i]); exact. */
export function f16ToF32(out: Float32Array, inp: Uint16Array, n: number): void {
  const t = getF16Table();
  for (let i = 0; i < n; i++) out[i] = t[inp[i]!]!;
}

/** out[i] = f16 bits of inp[i], round to nearest even, overflow to ±inf, NaN stays NaN. */
export function f32ToF16(out: Uint16Array, inp: Float32Array, n: number): void {
  const x = new Uint32Array(inp.buffer, inp.byteOffset, n);
  for (let i = 0; i < n; i++) out[i] = f32BitsToF16(x[i]!);
}

/** f16 bits nearest to the f32 with bits `b` (unsigned 32-bit integer). */
export function f32BitsToF16(b: number): number {
  const sign = (b >>> 16) & 0x8000;
  const exp = (b >>> 23) & 0xff;
  const mant = b & 0x7fffff;
  if (exp === 255) return mant === 0 ? sign | 0x7c00 : sign | 0x7e00 | (mant >>> 13); // inf / quiet NaN
  const e = exp - 127; // unbiased exponent; f32 subnormals (exp 0) are far below f16's range
  if (exp === 0 || e < -25) return sign; // |x| < 2^-25 = half the smallest f16 subnormal: rounds to ±0
  if (e > 15) return sign | 0x7c00; // |x| ≥ 2^16: overflow
  const m = 0x800000 | mant; // 24-bit significand, x = m · 2^(e-23)
  // f16 normals keep 11 significant bits (shift 13); below 2^-14 the f16 subnormal step is 2^-24.
  const shift = e >= -14 ? 13 : -e - 1;
  let q = m >>> shift;
  const rem = m & ((1 << shift) - 1);
  const half = 1 << (shift - 1);
  if (rem > half || (rem === half && (q & 1) === 1)) q++;
  // Normal: biased exponent field plus fraction; a rounding carry (q = 0x800) moves into the exponent, and
  // past the largest exponent it becomes 0x7c00 (inf). Subnormal: q itself (0x400 = smallest normal).
  const h = e >= -14 ? ((e + 15) << 10) + q - 0x400 : q;
  return sign | Math.min(h, 0x7c00);
}

/** out[i] = bf16 bits nearest to the f16 bits inp[i]. */
export function f16ToBf16(out: Uint16Array, inp: Uint16Array, n: number): void {
  const bits = new Uint32Array(getF16Table().buffer);
  for (let i = 0; i < n; i++) out[i] = f32BitsToBf16(bits[inp[i]!]!);
}

/** True on big-endian hosts, where file data (little-endian) must be byte-swapped. */
export const HOST_IS_BIG_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 0;

/** Reverses the bytes of each `width`-byte element (2 or 4) of `bytes` in place (little ↔ host on BE hosts). */
export function swapBytes(bytes: Uint8Array, width: 2 | 4): void {
  for (let i = 0; i + width <= bytes.length; i += width) {
    for (let a = i, b = i + width - 1; a < b; a++, b--) {
      const t = bytes[a]!;
      bytes[a] = bytes[b]!;
      bytes[b] = t;
    }
  }
}
