/**
 * Q8_0 (GGML_TYPE_Q8_0): blocks of 32 values, 34 bytes — d (binary16) then 32 int8 qs; value j = qs[j]·d.
 * Quantization is quantize_row_q8_0_ref bit for bit: d = amax/127 in f32, rounded to binary16 for storage, and
 * qs[j] = roundf(x[j]·(1/d)) with the f32 (not the rounded) d.
 */
import { alignedUint8 } from "../aligned.ts";
import type { WeightFormat } from "./format.ts";
import { fr, halfAt, halfBits, setU16 } from "./half.ts";

const QK = 32;
const BYTES = 34;

/** C's roundf: half away from zero. */
function roundAway(v: number): number {
  return v < 0 ? -Math.round(-v) : Math.round(v);
}

/** Block at byte p of d = the 32 values x[i0 …]. */
function quantizeBlock(d: Uint8Array, p: number, x: Float32Array, i0: number): void {
  let amax = 0;
  for (let j = 0; j < QK; j++) amax = Math.max(amax, Math.abs(x[i0 + j]!));
  const scale = fr(amax / 127);
  const id = scale !== 0 ? fr(1 / scale) : 0;
  setU16(d, p, halfBits(scale));
  for (let j = 0; j < QK; j++) d[p + 2 + j] = roundAway(fr(x[i0 + j]! * id)) & 0xff;
}

export const Q8_0: WeightFormat<Uint8Array> = {
  name: "q8_0",
  id: 8, // GGML_TYPE_Q8_0
  blockValues: QK,
  blockBytes: BYTES,
  elementBytes: 1,
  fileDType: null,
  quantized: true,
  alloc: (n) => alignedUint8((n / QK) * BYTES),
  toF32(out, data, from, n) {
    for (let b = 0; b < n / QK; b++) {
      const p = (from / QK + b) * BYTES;
      const d = halfAt(data, p);
      for (let j = 0; j < QK; j++) out[b * QK + j] = fr(((data[p + 2 + j]! << 24) >> 24) * d);
    }
  },
  fromF32(data, from, src, n) {
    for (let b = 0; b < n / QK; b++) quantizeBlock(data, (from / QK + b) * BYTES, src, b * QK);
  },
};
