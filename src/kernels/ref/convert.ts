/**
 * dtype conversions between f32 and the 16-bit formats, done on raw bits so that every case is exact:
 * bf16 = upper 16 bits of an f32 (round to nearest even, NaN kept NaN); f16 = IEEE binary16 (subnormals, inf,
 * NaN, overflow to inf). Also a 65536-entry bf16 → f32 table used by the bf16 matmul and embedding kernels.
 */

/** A Uint32Array over the same bytes as an f32 array (first n elements). */
function bitsOf(a: Float32Array, n: number): Uint32Array {
  return new Uint32Array(a.buffer, a.byteOffset, n);
}

/** out[i] = f32 whose upper 16 bits are inp[i] (exact). */
export function bf16ToF32(out: Float32Array, inp: Uint16Array, n: number): void {
  const o = bitsOf(out, n);
  for (let i = 0; i < n; i++) o[i] = inp[i]! << 16;
}

/** out[i] = bf16(inp[i]), round to nearest even; NaN becomes a quiet NaN with the same sign. */
export function f32ToBf16(out: Uint16Array, inp: Float32Array, n: number): void {
  const x = bitsOf(inp, n);
  for (let i = 0; i < n; i++) {
    const b = x[i]!;
    if ((b & 0x7fffffff) > 0x7f800000) {
      out[i] = (b >>> 16) | 0x0040; // quiet NaN (keeps sign and top payload bits)
    } else {
      // Adding 0x7fff plus the lowest kept bit rounds to nearest, ties to even; the sum stays below 2^32.
      out[i] = (b + 0x7fff + ((b >>> 16) & 1)) >>> 16;
    }
  }
}

/** out[i] = f32 value of the binary16 inp[i] (exact). */
export function f16ToF32(out: Float32Array, inp: Uint16Array, n: number): void {
  const o = bitsOf(out, n);
  for (let i = 0; i < n; i++) {
    const h = inp[i]!;
    const sign = (h & 0x8000) << 16;
    const exp = (h >>> 10) & 0x1f;
    const mant = h & 0x3ff;
    if (exp === 0) {
      const mag = mant * 2 ** -24; // subnormal (or zero): exact in f32
      out[i] = sign !== 0 ? -mag : mag;
    } else if (exp === 31) {
      o[i] = sign | 0x7f800000 | (mant << 13); // inf or NaN (payload kept)
    } else {
      o[i] = sign | ((exp + 112) << 23) | (mant << 13); // rebias 15 → 127
    }
  }
}

/** out[i] = binary16(inp[i]), round to nearest even; too large → ±inf; NaN → quiet NaN. */
export function f32ToF16(out: Uint16Array, inp: Float32Array, n: number): void {
  const x = bitsOf(inp, n);
  for (let i = 0; i < n; i++) out[i] = f32BitsToF16(x[i]!);
}

/** The binary16 encoding of the f32 with bits b. */
export function f32BitsToF16(b: number): number {
  const sign = (b >>> 16) & 0x8000;
  const e = (b >>> 23) & 0xff;
  const m = b & 0x7fffff;
  if (e === 255) return m === 0 ? sign | 0x7c00 : sign | 0x7e00 | (m >>> 13);
  const E = e - 127; // unbiased exponent (f32 subnormals have e = 0 and are far below f16's range)
  if (E > 15) return sign | 0x7c00;
  if (E >= -14) {
    // Normal range: keep 10 mantissa bits; a carry out of the mantissa correctly bumps the exponent (up to inf).
    let h = ((E + 15) << 10) | (m >>> 13);
    const rem = m & 0x1fff;
    if (rem > 0x1000 || (rem === 0x1000 && (h & 1) !== 0)) h++;
    return sign | h;
  }
  // Subnormal result: value = (m | 2^23) · 2^(E-23) = q · 2^-24 with q = (m | 2^23) >> s, s = -(E+1) ≥ 14.
  const s = -(E + 1);
  if (e === 0 || s > 24) return sign; // below a quarter of the smallest subnormal → ±0
  const full = m | 0x800000;
  let q = full >>> s;
  const rem = full & ((1 << s) - 1);
  const half = 1 << (s - 1);
  if (rem > half || (rem === half && (q & 1) !== 0)) q++;
  return sign | q; // q = 0x400 is the smallest normal, encoded correctly
}

let bf16Table: Float32Array | undefined;

/** table[h] = f32 value of bf16 h, for all 65536 bit patterns (built once, 256 KiB). */
export function bf16Lut(): Float32Array {
  if (bf16Table === undefined) {
    const t = new Float32Array(65536);
    const h = new Uint16Array(65536);
    for (let i = 0; i < 65536; i++) h[i] = i;
    bf16ToF32(t, h, 65536);
    bf16Table = t;
  }
  return bf16Table;
}
