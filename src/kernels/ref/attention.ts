/**
 * Reference causal grouped-query attention, one query row at a time, in f64.
 * Layout: q/out [B*T, nHead*hd], k/v [B*T, nKv*hd] (row = token, head h at columns h*hd … h*hd+hd-1),
 * lse [B, nHead, T]. Query head h reads kv head h / (nHead/nKv). Scores are scaled by 1/sqrt(hd).
 * Token t of sequence b sees keys s ≤ t of the same sequence, and only those with an equal seg id when seg is given.
 * Backward (docs/backward.md) recomputes P = exp(S − lse) and uses D = rowsum(dout ∘ out):
 *   dS = P ∘ (dout·Vᵀ − D),  dQ = scale·dS·K,  dK = scale·dSᵀ·Q,  dV = Pᵀ·dout.
 */
import { SLOT_HEAD, SLOT_SCORES, scratch64 } from "./scratch.ts";

/** Σ_d a[ao+d]·b[bo+d] in f64. */
function dot(a: Float32Array, ao: number, b: Float32Array, bo: number, n: number): number {
  let s = 0;
  for (let d = 0; d < n; d++) s += a[ao + d]! * b[bo + d]!;
  return s;
}

function checkHeads(nHead: number, nKv: number, headDim: number): void {
  if (nKv <= 0 || nHead % nKv !== 0) {
    throw new RangeError(`attention: nHead (${nHead}) must be a positive multiple of nKv (${nKv})`);
  }
  if (headDim <= 0) throw new RangeError(`attention: headDim must be positive (got ${headDim})`);
}

/**
 * scores[s] = scale·q·k_s for keys s < nKeys (key s at k[kBase + s*kvRow]); masked keys (seg[segBase+s] differs
 * from segSelf) get −∞. Returns the maximum score (finite: the caller always includes its own token).
 */
function scoreRow(
  scores: Float64Array,
  q: Float32Array,
  qo: number,
  k: Float32Array,
  kBase: number,
  kvRow: number,
  nKeys: number,
  seg: Int32Array | null,
  segBase: number,
  segSelf: number,
  hd: number,
  scale: number,
): number {
  let max = Number.NEGATIVE_INFINITY;
  for (let s = 0; s < nKeys; s++) {
    if (seg !== null && seg[segBase + s] !== segSelf) {
      scores[s] = Number.NEGATIVE_INFINITY;
      continue;
    }
    const sc = scale * dot(q, qo, k, kBase + s * kvRow, hd);
    scores[s] = sc;
    if (sc > max) max = sc;
  }
  return max;
}

/**
 * One query row (q at qo): out[oo … oo+hd) = softmax(scores)·V over keys s < nKeys; returns the log-sum-exp.
 * kvBase is the offset of key/value row 0 for this sequence and kv head; the query is token nKeys-1.
 */
function attendRow(
  out: Float32Array,
  oo: number,
  q: Float32Array,
  qo: number,
  k: Float32Array,
  v: Float32Array,
  kvBase: number,
  kvRow: number,
  nKeys: number,
  seg: Int32Array | null,
  segBase: number,
  hd: number,
  scale: number,
): number {
  const scores = scratch64(SLOT_SCORES, nKeys);
  const acc = scratch64(SLOT_HEAD, hd);
  const segSelf = seg === null ? 0 : seg[segBase + nKeys - 1]!;
  const max = scoreRow(scores, q, qo, k, kvBase, kvRow, nKeys, seg, segBase, segSelf, hd, scale);
  acc.fill(0, 0, hd);
  let sum = 0;
  for (let s = 0; s < nKeys; s++) {
    const p = Math.exp(scores[s]! - max); // exactly 0 for masked keys
    if (p === 0) continue;
    sum += p;
    const vo = kvBase + s * kvRow;
    for (let d = 0; d < hd; d++) acc[d] = acc[d]! + p * v[vo + d]!;
  }
  for (let d = 0; d < hd; d++) out[oo + d] = acc[d]! / sum;
  return max + Math.log(sum);
}

/** Forward: out[B*T, nHead*hd] and lse[B, nHead, T] from q, k, v (see the file comment). */
export function attentionForward(
  out: Float32Array,
  lse: Float32Array,
  q: Float32Array,
  k: Float32Array,
  v: Float32Array,
  seg: Int32Array | null,
  B: number,
  T: number,
  nHead: number,
  nKv: number,
  headDim: number,
): void {
  checkHeads(nHead, nKv, headDim);
  const qRow = nHead * headDim;
  const kvRow = nKv * headDim;
  const group = nHead / nKv;
  const scale = 1 / Math.sqrt(headDim);
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < nHead; h++) {
      const kvBase = b * T * kvRow + Math.floor(h / group) * headDim;
      for (let t = 0; t < T; t++) {
        const qo = (b * T + t) * qRow + h * headDim; // q and out share a layout
        const rowLse = attendRow(out, qo, q, qo, k, v, kvBase, kvRow, t + 1, seg, b * T, headDim, scale);
        lse[(b * nHead + h) * T + t] = rowLse;
      }
    }
  }
}

/**
 * Backward: dq, dk, dv overwritten. Per query row (b, h, t), with P recomputed from the saved lse:
 * dP_s = dout·v_s, dS_s = P_s·(dP_s − D), dq = scale·Σ_s dS_s·k_s, dk_s += scale·dS_s·q, dv_s += P_s·dout.
 * dk/dv rows are shared by the nHead/nKv query heads of a group and by later queries, hence accumulated.
 */
export function attentionBackward(
  dq: Float32Array,
  dk: Float32Array,
  dv: Float32Array,
  dout: Float32Array,
  q: Float32Array,
  k: Float32Array,
  v: Float32Array,
  out: Float32Array,
  lse: Float32Array,
  seg: Int32Array | null,
  B: number,
  T: number,
  nHead: number,
  nKv: number,
  headDim: number,
): void {
  checkHeads(nHead, nKv, headDim);
  const hd = headDim;
  const qRow = nHead * hd;
  const kvRow = nKv * hd;
  const group = nHead / nKv;
  const scale = 1 / Math.sqrt(hd);
  dk.fill(0, 0, B * T * kvRow);
  dv.fill(0, 0, B * T * kvRow);
  const p = scratch64(SLOT_SCORES, T);
  const dqAcc = scratch64(SLOT_HEAD, hd);
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < nHead; h++) {
      const kvBase = b * T * kvRow + Math.floor(h / group) * hd;
      for (let t = 0; t < T; t++) {
        const qo = (b * T + t) * qRow + h * hd;
        const segSelf = seg === null ? 0 : seg[b * T + t]!;
        scoreRow(p, q, qo, k, kvBase, kvRow, t + 1, seg, b * T, segSelf, hd, scale);
        const rowLse = lse[(b * nHead + h) * T + t]!;
        const D = dot(dout, qo, out, qo, hd);
        dqAcc.fill(0, 0, hd);
        for (let s = 0; s <= t; s++) {
          const ps = Math.exp(p[s]! - rowLse);
          if (ps === 0) continue; // masked key (or a probability that underflowed: no contribution)
          const ko = kvBase + s * kvRow;
          const dS = ps * (dot(dout, qo, v, ko, hd) - D);
          const dSs = scale * dS;
          for (let d = 0; d < hd; d++) {
            dqAcc[d] = dqAcc[d]! + dS * k[ko + d]!;
            dk[ko + d] = dk[ko + d]! + dSs * q[qo + d]!;
            dv[ko + d] = dv[ko + d]! + ps * dout[qo + d]!;
          }
        }
        for (let d = 0; d < hd; d++) dq[qo + d] = scale * dqAcc[d]!;
      }
    }
  }
}

/**
 * Generation against a KV cache (batch 1): query i (position pos0+i) attends to cache rows 0 … pos0+i.
 * q/out [Tq, nHead*hd], kCache/vCache [maxT, nKv*hd].
 */
export function attentionKV(
  out: Float32Array,
  q: Float32Array,
  kCache: Float32Array,
  vCache: Float32Array,
  Tq: number,
  pos0: number,
  nHead: number,
  nKv: number,
  headDim: number,
): void {
  checkHeads(nHead, nKv, headDim);
  const qRow = nHead * headDim;
  const kvRow = nKv * headDim;
  const group = nHead / nKv;
  const scale = 1 / Math.sqrt(headDim);
  if ((pos0 + Tq) * kvRow > kCache.length || (pos0 + Tq) * kvRow > vCache.length) {
    throw new RangeError(`attentionKV: positions up to ${pos0 + Tq - 1} do not fit the KV cache`);
  }
  for (let i = 0; i < Tq; i++) {
    for (let h = 0; h < nHead; h++) {
      const qo = i * qRow + h * headDim;
      const kvBase = Math.floor(h / group) * headDim;
      attendRow(out, qo, q, qo, kCache, vCache, kvBase, kvRow, pos0 + i + 1, null, 0, headDim, scale);
    }
  }
}
