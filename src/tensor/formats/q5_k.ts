/**
 * Q5_K (GGML_TYPE_Q5_K): super-blocks of 256 values in 176 bytes — d, dmin (binary16), 12 bytes of 6-bit scales
 * and mins (as Q4_K), qh[32] (the fifth bits), qs[128] (low nibbles). Chunk c < 4 of 64 values: value 64c + l =
 * d·sc(2c)·((qs[32c+l] & 15) + 16·bit 2c of qh[l]) − dmin·m(2c); value 64c + 32 + l the high nibble and bit 2c+1.
 * Quantization is quantize_row_q5_K_ref (levels 0…31, grid −0.5 + 0.1·is, is ≤ 15), f32 without FMAs (see q4_k.ts).
 */
import { alignedUint8 } from "../aligned.ts";
import type { WeightFormat } from "./format.ts";
import { fr, halfAt, setU16 } from "./half.ts";
import { type KSubBlocks, kSubBlocks, requantizeK } from "./kquant-k4.ts";
import { getScaleMinK4 } from "./kquant-search.ts";

const QK = 256;
const BYTES = 176;

function quantizeSuperBlock(d: Uint8Array, p: number, x: Float32Array, i0: number, s: KSubBlocks): void {
  const { L, dBits, dminBits } = kSubBlocks(x, i0, 31, fr(-0.5), 15, d, p + 4, s);
  setU16(d, p, dBits);
  setU16(d, p + 2, dminBits);
  requantizeK(x, i0, d, p, 31, L);
  const qh = p + 16;
  const ql = p + 48;
  d.fill(0, qh, qh + 32);
  for (let c = 0; c < 4; c++) {
    for (let j = 0; j < 32; j++) {
      const l1 = L[64 * c + j]!;
      const l2 = L[64 * c + 32 + j]!;
      if (l1 > 15) d[qh + j] = d[qh + j]! | (1 << (2 * c));
      if (l2 > 15) d[qh + j] = d[qh + j]! | (2 << (2 * c));
      d[ql + 32 * c + j] = (l1 & 15) | ((l2 & 15) << 4);
    }
  }
}

export const Q5_K: WeightFormat<Uint8Array> = {
  name: "q5_k",
  id: 13, // GGML_TYPE_Q5_K
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
      const dmin = halfAt(data, p + 2);
      for (let c = 0; c < 4; c++) {
        const [sc0, m0] = getScaleMinK4(2 * c, data, p + 4);
        const [sc1, m1] = getScaleMinK4(2 * c + 1, data, p + 4);
        const [d0, n0, d1, n1] = [fr(d * sc0), fr(dmin * m0), fr(d * sc1), fr(dmin * m1)];
        const o = b * QK + 64 * c;
        for (let l = 0; l < 32; l++) {
          const q = data[p + 48 + 32 * c + l]!;
          const h = data[p + 16 + l]!;
          out[o + l] = fr(fr(d0 * ((q & 15) + (h & (1 << (2 * c)) ? 16 : 0))) - n0);
          out[o + 32 + l] = fr(fr(d1 * ((q >>> 4) + (h & (2 << (2 * c)) ? 16 : 0))) - n1);
        }
      }
    }
  },
  fromF32(data, from, src, n) {
    const s: KSubBlocks = {
      L: new Uint8Array(QK),
      weights: new Float32Array(32),
      scales: new Float32Array(8),
      mins: new Float32Array(8),
    };
    for (let b = 0; b < n / QK; b++) quantizeSuperBlock(data, (from / QK + b) * BYTES, src, b * QK, s);
  },
};
