/**
 * Q4_0 (GGML_TYPE_Q4_0): blocks of 32 values, 18 bytes — d (binary16) then 16 bytes qs; value j < 16 is
 * ((qs[j] & 15) − 8)·d, value j + 16 is ((qs[j] >> 4) − 8)·d. Quantization is quantize_row_q4_0_ref: d = max/−8
 * where max is the value of largest magnitude, q = min(15, trunc(x/d + 8.5)).
 */
import { alignedUint8 } from "../aligned.ts";
import type { WeightFormat } from "./format.ts";
import { fr, halfAt, halfBits, setU16 } from "./half.ts";

const QK = 32;
const BYTES = 18;

function quantizeBlock(d: Uint8Array, p: number, x: Float32Array, i0: number): void {
  let amax = 0;
  let max = 0;
  for (let j = 0; j < QK; j++) {
    const v = x[i0 + j]!;
    if (amax < Math.abs(v)) {
      amax = Math.abs(v);
      max = v;
    }
  }
  const scale = fr(max / -8);
  const id = scale !== 0 ? fr(1 / scale) : 0;
  setU16(d, p, halfBits(scale));
  for (let j = 0; j < QK / 2; j++) {
    const q0 = Math.min(15, Math.trunc(fr(fr(x[i0 + j]! * id) + 8.5)));
    const q1 = Math.min(15, Math.trunc(fr(fr(x[i0 + j + 16]! * id) + 8.5)));
    d[p + 2 + j] = q0 | (q1 << 4);
  }
}

export const Q4_0: WeightFormat<Uint8Array> = {
  name: "q4_0",
  id: 2, // GGML_TYPE_Q4_0
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
      for (let j = 0; j < QK / 2; j++) {
        const q = data[p + 2 + j]!;
        out[b * QK + j] = fr(((q & 15) - 8) * d);
        out[b * QK + j + 16] = fr(((q >>> 4) - 8) * d);
      }
    }
  },
  fromF32(data, from, src, n) {
    for (let b = 0; b < n / QK; b++) quantizeBlock(data, (from / QK + b) * BYTES, src, b * QK);
  },
};
