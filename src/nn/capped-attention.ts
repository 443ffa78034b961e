/**
 * Causal grouped-query attention with the options Gemma 2/3 (and sliding-window models) need beyond the kernels'
 * attention (scale 1/√hd, full causal window): a score scale of the family's choosing (Gemma 2:
 * query_pre_attn_scalar^-0.5), logit soft-capping s = c·tanh(s_raw / c) before the mask and softmax
 * (attn_logit_softcapping), and a sliding window (query t sees keys s with t − window < s ≤ t). Plain TypeScript,
 * one query row at a time, accumulated in f64.
 * Layout as the kernels': q/out [B*T, nHead*hd], k/v [B*T, nKv*hd], lse [B, nHead, T]; query head h reads kv head
 * floor(h / (nHead/nKv)); with seg, only keys of the same segment (packed examples; their rows are contiguous, so
 * row distance is position distance within the window).
 * Backward recomputes P = exp(s − lse) and, with D = rowsum(dout ∘ out):
 *   dS = P ∘ (dout·Vᵀ − D),  dS_raw = dS ∘ (1 − (s/c)²) (capped),  dQ = scale·dS_raw·K,  dK = scale·dS_rawᵀ·Q,
 *   dV = Pᵀ·dout.
 */

export interface AttentionOptions {
  /** Multiplies q·k (1/√hd for plain attention). */
  scale: number;
  /** Soft-cap c of the scores (c·tanh(s/c)); 0: none. */
  softcap: number;
  /** Keys visible to a query, itself included (t − window < s ≤ t); 0: the whole causal prefix. */
  window: number;
}

/** The problem's sizes. */
export interface AttentionShape {
  B: number;
  T: number;
  nHead: number;
  nKv: number;
  headDim: number;
}

function check(sh: AttentionShape, o: AttentionOptions): void {
  if (sh.nKv <= 0 || sh.nHead % sh.nKv !== 0) {
    throw new RangeError(`attention: nHead (${sh.nHead}) must be a positive multiple of nKv (${sh.nKv})`);
  }
  if (!(o.softcap >= 0) || !(o.window >= 0) || !Number.isInteger(o.window)) {
    throw new RangeError(`attention: softcap and window must be >= 0 (window an integer): ${JSON.stringify(o)}`);
  }
}

/** The first key a query at row t sees (within its sequence). */
function firstKey(t: number, window: number): number {
  return window > 0 ? Math.max(0, t - window + 1) : 0;
}

/**
 * scores[s − s0] for keys s0 ≤ s ≤ t of one query (capped when softcap > 0; −∞ for another segment's keys);
 * returns the maximum (finite: the query sees itself).
 */
function scores(
  out: Float64Array,
  q: Float32Array,
  qo: number,
  k: Float32Array,
  kBase: number,
  kvRow: number,
  s0: number,
  t: number,
  seg: Int32Array | null,
  segBase: number,
  hd: number,
  o: AttentionOptions,
): number {
  let max = Number.NEGATIVE_INFINITY;
  const self = seg === null ? 0 : seg[segBase + t]!;
  for (let s = s0; s <= t; s++) {
    if (seg !== null && seg[segBase + s] !== self) {
      out[s - s0] = Number.NEGATIVE_INFINITY;
      continue;
    }
    let dot = 0;
    const ko = kBase + s * kvRow;
    for (let d = 0; d < hd; d++) dot += q[qo + d]! * k[ko + d]!;
    let sc = o.scale * dot;
    if (o.softcap > 0) sc = o.softcap * Math.tanh(sc / o.softcap);
    out[s - s0] = sc;
    if (sc > max) max = sc;
  }
  return max;
}

/** out[B*T, nHead*hd] and lse[B, nHead, T] (natural log-sum-exp of each row's scores). */
export function cappedAttentionForward(
  out: Float32Array,
  lse: Float32Array,
  q: Float32Array,
  k: Float32Array,
  v: Float32Array,
  seg: Int32Array | null,
  sh: AttentionShape,
  o: AttentionOptions,
): void {
  check(sh, o);
  const { B, T, nHead, nKv, headDim: hd } = sh;
  const qRow = nHead * hd;
  const kvRow = nKv * hd;
  const group = nHead / nKv;
  const sc = new Float64Array(T);
  const acc = new Float64Array(hd);
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < nHead; h++) {
      const kvBase = b * T * kvRow + Math.floor(h / group) * hd;
      for (let t = 0; t < T; t++) {
        const qo = (b * T + t) * qRow + h * hd;
        const s0 = firstKey(t, o.window);
        const max = scores(sc, q, qo, k, kvBase, kvRow, s0, t, seg, b * T, hd, o);
        acc.fill(0);
        let sum = 0;
        for (let s = s0; s <= t; s++) {
          const p = Math.exp(sc[s - s0]! - max);
          if (p === 0) continue;
          sum += p;
          const vo = kvBase + s * kvRow;
          for (let d = 0; d < hd; d++) acc[d] = acc[d]! + p * v[vo + d]!;
        }
        for (let d = 0; d < hd; d++) out[qo + d] = acc[d]! / sum;
        lse[(b * nHead + h) * T + t] = max + Math.log(sum);
      }
    }
  }
}

/** dq, dk, dv (overwritten) from dout and the forward's q, k, v, out, lse. */
export function cappedAttentionBackward(
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
  sh: AttentionShape,
  o: AttentionOptions,
): void {
  check(sh, o);
  const { B, T, nHead, nKv, headDim: hd } = sh;
  const qRow = nHead * hd;
  const kvRow = nKv * hd;
  const group = nHead / nKv;
  dq.fill(0, 0, B * T * qRow);
  dk.fill(0, 0, B * T * kvRow);
  dv.fill(0, 0, B * T * kvRow);
  const sc = new Float64Array(T);
  const dqRow = new Float64Array(hd);
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < nHead; h++) {
      const kvBase = b * T * kvRow + Math.floor(h / group) * hd;
      for (let t = 0; t < T; t++) {
        const qo = (b * T + t) * qRow + h * hd;
        const s0 = firstKey(t, o.window);
        scores(sc, q, qo, k, kvBase, kvRow, s0, t, seg, b * T, hd, o);
        const rowLse = lse[(b * nHead + h) * T + t]!;
        let D = 0;
        for (let d = 0; d < hd; d++) D += dout[qo + d]! * out[qo + d]!;
        dqRow.fill(0);
        for (let s = s0; s <= t; s++) {
          const p = Math.exp(sc[s - s0]! - rowLse);
          if (p === 0) continue;
          const ko = kvBase + s * kvRow;
          let dp = 0;
          for (let d = 0; d < hd; d++) {
            dp += dout[qo + d]! * v[ko + d]!;
            dv[ko + d] = dv[ko + d]! + p * dout[qo + d]!;
          }
          let ds = p * (dp - D);
          if (o.softcap > 0) {
            const u = sc[s - s0]! / o.softcap;
            ds *= 1 - u * u;
          }
          ds *= o.scale;
          for (let d = 0; d < hd; d++) {
            dqRow[d] = dqRow[d]! + ds * k[ko + d]!;
            dk[ko + d] = dk[ko + d]! + ds * q[qo + d]!;
          }
        }
        for (let d = 0; d < hd; d++) dq[qo + d] = dqRow[d]!;
      }
    }
  }
}

/**
 * Generation against a KV cache (batch 1): queries q[Tq, nHead*hd] at positions pos0 … pos0+Tq−1 over
 * kCache/vCache rows 0 … pos0+Tq−1 (these tokens included), with the same scale, cap and window. out[Tq, nHead*hd].
 */
export function cappedAttentionKV(
  out: Float32Array,
  q: Float32Array,
  kCache: Float32Array,
  vCache: Float32Array,
  Tq: number,
  pos0: number,
  nHead: number,
  nKv: number,
  hd: number,
  o: AttentionOptions,
): void {
  const T = pos0 + Tq;
  check({ B: 1, T, nHead, nKv, headDim: hd }, o);
  const qRow = nHead * hd;
  const kvRow = nKv * hd;
  const group = nHead / nKv;
  const sc = new Float64Array(T);
  const acc = new Float64Array(hd);
  for (let h = 0; h < nHead; h++) {
    const kvBase = Math.floor(h / group) * hd;
    for (let i = 0; i < Tq; i++) {
      const t = pos0 + i;
      const qo = i * qRow + h * hd;
      const s0 = firstKey(t, o.window);
      const max = scores(sc, q, qo, kCache, kvBase, kvRow, s0, t, null, 0, hd, o);
      let sum = 0;
      acc.fill(0);
      for (let s = s0; s <= t; s++) {
        const p = Math.exp(sc[s - s0]! - max);
        sum += p;
        const vo = kvBase + s * kvRow;
        for (let d = 0; d < hd; d++) acc[d] = acc[d]! + p * vCache[vo + d]!;
      }
      for (let d = 0; d < hd; d++) out[qo + d] = acc[d]! / sum;
    }
  }
}
