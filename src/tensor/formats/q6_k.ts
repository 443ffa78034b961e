/**
 * Q6_K (GGML_TYPE_Q6_K): super-blocks of 256 values in 210 bytes — ql[128] (low nibbles), qh[64] (high 2 bits),
 * 16 int8 scales (one per sub-block of 16), d (binary16). Half h < 2 of 128 values, l < 32: the four values
 * 128h + l + 32i (i < 4) take nibble (i & 1 ? ql[64h+32+l] : ql[64h+l]) >> (i < 2 ? 0 : 4), bits 2i of qh[32h+l],
 * minus 32, times d·scales[8h + l/16 + 2i]. Quantization is quantize_row_q6_K_ref (makeQxQuants per sub-block,
 * int8 scales against the largest, levels recomputed), f32 without FMAs (see q4_k.ts).
 */
import { alignedUint8 } from "../aligned.ts";
import type { WeightFormat } from "./format.ts";
import { clampInt, fr, halfAt, halfBits, nearestInt, setU16 } from "./half.ts";
import { makeQxQuants } from "./kquant-search.ts";

const QK = 256;
const BYTES = 210;
const GROUP_MAX_EPS = fr(1e-15);

function quantizeSuperBlock(d: Uint8Array, p: number, x: Float32Array, i0: number, L: Uint8Array): void {
  const scales = new Float32Array(16);
  let maxScale = 0;
  let maxAbs = 0;
  for (let ib = 0; ib < 16; ib++) {
    const scale = makeQxQuants(16, 32, x, i0 + 16 * ib, L, 16 * ib);
    scales[ib] = scale;
    if (Math.abs(scale) > maxAbs) {
      maxAbs = Math.abs(scale);
      maxScale = scale;
    }
  }
  d.fill(0, p, p + BYTES);
  if (maxAbs < GROUP_MAX_EPS) return;
  const iscale = fr(-128 / maxScale);
  setU16(d, p + 208, halfBits(fr(1 / iscale)));
  for (let ib = 0; ib < 16; ib++) d[p + 192 + ib] = Math.min(127, nearestInt(fr(iscale * scales[ib]!))) & 0xff;
  const dd = halfAt(d, p + 208);
  for (let j = 0; j < 16; j++) {
    const s = fr(dd * ((d[p + 192 + j]! << 24) >> 24));
    if (s === 0) continue;
    for (let i = 0; i < 16; i++) L[16 * j + i] = clampInt(nearestInt(fr(x[i0 + 16 * j + i]! / s)), -32, 31) + 32;
  }
  for (let h = 0; h < 2; h++) {
    const ql = p + 64 * h;
    const qh = p + 128 + 32 * h;
    const o = 128 * h;
    for (let l = 0; l < 32; l++) {
      const [q1, q2, q3, q4] = [L[o + l]!, L[o + l + 32]!, L[o + l + 64]!, L[o + l + 96]!];
      d[ql + l] = (q1 & 15) | ((q3 & 15) << 4);
      d[ql + l + 32] = (q2 & 15) | ((q4 & 15) << 4);
      d[qh + l] = (q1 >>> 4) | ((q2 >>> 4) << 2) | ((q3 >>> 4) << 4) | ((q4 >>> 4) << 6);
    }
  }
}

export const Q6_K: WeightFormat<Uint8Array> = {
  name: "q6_k",
  id: 14, // GGML_TYPE_Q6_K
  blockValues: QK,
  blockBytes: BYTES,
  elementBytes: 1,
  fileDType: null,
  quantized: true,
  alloc: (n) => alignedUint8((n / QK) * BYTES),
  toF32(out, data, from, n) {
    for (let b = 0; b < n / QK; b++) {
      const p = (from / QK + b) * BYTES;
      const d = halfAt(data, p + 208);
      for (let h = 0; h < 2; h++) {
        const o = b * QK + 128 * h;
        for (let l = 0; l < 32; l++) {
          const lo0 = data[p + 64 * h + l]!;
          const lo1 = data[p + 64 * h + 32 + l]!;
          const hi = data[p + 128 + 32 * h + l]!;
          const q = [
            (lo0 & 15) | ((hi & 3) << 4),
            (lo1 & 15) | (((hi >>> 2) & 3) << 4),
            (lo0 >>> 4) | (((hi >>> 4) & 3) << 4),
            (lo1 >>> 4) | (((hi >>> 6) & 3) << 4),
          ];
          for (let i = 0; i < 4; i++) {
            const sc = (data[p + 192 + 8 * h + (l >>> 4) + 2 * i]! << 24) >> 24;
            out[o + l + 32 * i] = fr(fr(d * sc) * (q[i]! - 32));
          }
        }
      }
    }
  },
  fromF32(data, from, src, n) {
    const L = new Uint8Array(QK);
    for (let b = 0; b < n / QK; b++) quantizeSuperBlock(data, (from / QK + b) * BYTES, src, b * QK, L);
  },
};
