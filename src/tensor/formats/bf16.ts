/**
 * bf16: the upper 16 bits of an IEEE f32, one value per Uint16Array element. Widening is exact; narrowing rounds to
 * nearest even and keeps NaN a (quiet) NaN.
 */
import { alignedUint16 } from "../aligned.ts";
import type { WeightFormat } from "./format.ts";

/** out[i] = f32(bf16 bits inp[i]); exact. */
export function bf16ToF32(out: Float32Array, inp: Uint16Array, n: number): void {
  const o = new Uint32Array(out.buffer, out.byteOffset, n);
  for (let i = 0; i < n; i++) o[i] = inp[i]! << 16;
}

/** out[i] = bf16 bits of inp[i], round to nearest even; NaN stays a quiet NaN. */
export function f32ToBf16(out: Uint16Array, inp: Float32Array, n: number): void {
  const x = new Uint32Array(inp.buffer, inp.byteOffset, n);
  for (let i = 0; i < n; i++) out[i] = f32BitsToBf16(x[i]!);
}

/** bf16 bits nearest to the f32 with bits `b` (unsigned 32-bit integer). */
export function f32BitsToBf16(b: number): number {
  if ((b & 0x7fffffff) > 0x7f800000) return (b >>> 16) | 0x0040; // NaN: keep sign and payload top, force quiet
  // Adding 0x7fff plus the lowest kept bit rounds half to even; a carry into the exponent is the correct
  // result (including overflow of the largest finite values to inf).
  return ((b + 0x7fff + ((b >>> 16) & 1)) >>> 16) & 0xffff;
}

export const BF16: WeightFormat<Uint16Array> = {
  name: "bf16",
  id: 30, // GGML_TYPE_BF16
  blockValues: 1,
  blockBytes: 2,
  elementBytes: 2,
  fileDType: "BF16",
  quantized: false,
  alloc: alignedUint16,
  toF32(out, data, from, n) {
    bf16ToF32(out, data.subarray(from, from + n), n);
  },
  fromF32(data, from, src, n) {
    f32ToBf16(data.subarray(from, from + n), src, n);
  },
};
