/**
 * Scalar helpers shared by the block formats: IEEE binary16 scale fields (ggml_half, little-endian in the block) and
 * ggml's nearest_int. All arithmetic in the block formats is f32: every operation is rounded with Math.fround, the
 * way ggml's C reference computes it (without FMA contraction; see q4_k.ts for where that matters).
 */
import { f16BitsToF32Bits, f32BitsToF16 } from "./f16.ts";

export const fr = Math.fround;

const bits = new Uint32Array(1);
const asFloat = new Float32Array(bits.buffer);

/** The f32 value of binary16 bits h (exact). */
export function halfValue(h: number): number {
  bits[0] = f16BitsToF32Bits(h);
  return asFloat[0]!;
}

/** binary16 bits of the f32 x, round to nearest even (GGML_FP32_TO_FP16). */
export function halfBits(x: number): number {
  asFloat[0] = x;
  return f32BitsToF16(bits[0]!);
}

/** The little-endian u16 at byte p of d. */
export function u16At(d: Uint8Array, p: number): number {
  return d[p]! | (d[p + 1]! << 8);
}

/** Writes the u16 v little-endian at byte p of d. */
export function setU16(d: Uint8Array, p: number, v: number): void {
  d[p] = v & 0xff;
  d[p + 1] = v >>> 8;
}

/** The binary16 scale at byte p of d, as f32. */
export function halfAt(d: Uint8Array, p: number): number {
  return halfValue(u16At(d, p));
}

/**
 * ggml's nearest_int: fval + 1.5·2^23 in f32 and the low mantissa bits back, i.e. round half to even for
 * |fval| < 2^22 (the only range the quantizers pass).
 */
export function nearestInt(fval: number): number {
  return fr(fval + 12582912) - 12582912;
}

/** Clamps l into [lo, hi]. */
export function clampInt(l: number, lo: number, hi: number): number {
  return Math.min(hi, Math.max(lo, l));
}
