/**
 * Q4_K (GGML_TYPE_Q4_K): super-blocks of 256 values in 144 bytes — d, dmin (binary16), 12 bytes of 6-bit scales
 * and mins for 8 sub-blocks of 32 (getScaleMinK4), 128 bytes of 4-bit levels. Chunk c < 4 of 64 values uses
 * qs[32c … 32c+31]: values 64c + l = d·sc(2c)·(q & 15) − dmin·m(2c), values 64c + 32 + l the high nibbles with
 * sub-block 2c+1. Quantization is quantize_row_q4_K_ref (no importance matrix), in f32 without fused
 * multiply-adds: ggml builds may contract a·b + c into an FMA, and then an occasional level or scale differs.
 */
import { alignedUint8 } from "../aligned.ts";
import type { WeightFormat } from "./format.ts";
import { fr, halfAt, setU16 } from "./half.ts";
import { type KSubBlocks, kSubBlocks, requantizeK } from "./kquant-k4.ts";
import { getScaleMinK4 } from "./kquant-search.ts";

const QK = 256;
const BYTES = 144;

/** Writes super-block x[i0 … i0+255] at byte p of d. */
function quantizeSuperBlock(d: Uint8Array, p: number, x: Float32Array, i0: number, s: KSubBlocks): void {
  const { L, dBits, dminBits } = kSubBlocks(x, i0, 15, fr(-1), 20, d, p + 4, s);
  setU16(d, p, dBits);
  setU16(d, p + 2, dminBits);
  requantizeK(x, i0, d, p, 15, L);
  const q = p + 16;
  for (let c = 0; c < 4; c++)
    for (let l = 0; l < 32; l++) d[q + 32 * c + l] = L[64 * c + l]! | (L[64 * c + 32 + l]! << 4);
}

export const Q4_K: WeightFormat<Uint8Array> = {
  name: "q4_k",
  id: 12, // GGML_TYPE_Q4_K
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
          const q = data[p + 16 + 32 * c + l]!;
          out[o + l] = fr(fr(d0 * (q & 15)) - n0);
          out[o + 32 + l] = fr(fr(d1 * (q >>> 4)) - n1);
        }
      }
    }
  },
  fromF32(data, from, src, n) {
    const s = newSubBlocks();
    for (let b = 0; b < n / QK; b++) quantizeSuperBlock(data, (from / QK + b) * BYTES, src, b * QK, s);
  },
};

function newSubBlocks(): KSubBlocks {
  return {
    L: new Uint8Array(QK),
    weights: new Float32Array(32),
    scales: new Float32Array(8),
    mins: new Float32Array(8),
  };
}
