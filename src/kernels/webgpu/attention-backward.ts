/// <reference types="@webgpu/types" />
/**
 * Causal grouped-query attention backward in WGSL (the reference: kernels/ref/attention.ts attentionBackward),
 * with P_ts = e^{scale·q_t·k_s − lse_t} recomputed from the saved lse and D_t = dout_t·out_t:
 *   dS_ts = P_ts·(dout_t·v_s − D_t),  dq_t = scale·Σ_s dS_ts·k_s,  dk_s = scale·Σ_t dS_ts·q_t,  dv_s = Σ_t P_ts·dout_t.
 * Three kernels, so that every output row has one owner and nothing needs atomics:
 * - per query row, one invocation: stats[row] = (lse_t, D_t), a scratch [B, nHead, T, 2] (one binding for both
 *   keeps the others within the 8 storage buffers per shader stage every adapter allows);
 * - per query row (b, h, t), a workgroup: dq_t, walking the keys s ≤ t 64 at a time;
 * - per key row (b, kv head, s), a workgroup: dk_s and dv_s, walking the query heads of its group and the
 *   queries t ≥ s.
 * All overwrite their outputs.
 */
import {
  ATT_WG,
  attentionParams,
  attentionPrelude,
  checkAttentionHeads,
  MAX_HEAD_DIM,
  segOrPlaceholder,
} from "./attention-common.ts";
import { dispatchElements, ELEM_MAIN } from "./elementwise.ts";
import { dispatch, type Gpu, GROUP_INDEX, grid, pipeline } from "./gpu.ts";

const MAIN = /* wgsl */ `
@compute @workgroup_size(${ATT_WG})
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lid: u32) {
  ${GROUP_INDEX}`;

const STATS = /* wgsl */ `
@group(0) @binding(0) var<storage, read_write> stats: array<f32>;
@group(0) @binding(1) var<storage, read> dout: array<f32>;
@group(0) @binding(2) var<storage, read> out: array<f32>;
@group(0) @binding(3) var<storage, read> lse: array<f32>;
${attentionPrelude(4, false)}
${ELEM_MAIN}
  let row = i; // (b·nHead + h)·T + t
  if (row >= p.B * p.nHead * p.T) { return; }
  let t = row % p.T;
  let h = (row / p.T) % p.nHead;
  let b = row / (p.T * p.nHead);
  let qo = (b * p.T + t) * p.nHead * p.hd + h * p.hd;
  var D = 0.0;
  for (var d = 0u; d < p.hd; d++) { D += dout[qo + d] * out[qo + d]; }
  stats[2u * row] = lse[row];
  stats[2u * row + 1u] = D;
}`;

const DQ = /* wgsl */ `
@group(0) @binding(0) var<storage, read_write> dq: array<f32>;
@group(0) @binding(1) var<storage, read> dout: array<f32>;
@group(0) @binding(2) var<storage, read> q: array<f32>;
@group(0) @binding(3) var<storage, read> k: array<f32>;
@group(0) @binding(4) var<storage, read> v: array<f32>;
@group(0) @binding(5) var<storage, read> stats: array<f32>;
${attentionPrelude(6)}
var<workgroup> wds: array<f32, ${ATT_WG}>;
var<workgroup> acc: array<f32, ${MAX_HEAD_DIM}>;
${MAIN}
  if (group >= p.B * p.nHead * p.T) { return; }
  let t = group % p.T;
  let h = (group / p.T) % p.nHead;
  let b = group / (p.T * p.nHead);
  let qRow = p.nHead * p.hd;
  let kvRow = p.nKv * p.hd;
  let qo = (b * p.T + t) * qRow + h * p.hd;
  let kvBase = b * p.T * kvRow + (h / (p.nHead / p.nKv)) * p.hd;
  let row = (b * p.nHead + h) * p.T + t;
  for (var d = lid; d < p.hd; d += WG) { acc[d] = 0.0; }
  let L = stats[2u * row];
  let D = stats[2u * row + 1u];
  for (var s0 = 0u; s0 <= t; s0 += WG) {
    let s = s0 + lid;
    var ds = 0.0;
    if (s <= t && visible(b, t, s)) {
      var qk = 0.0;
      var dp = 0.0;
      for (var d = 0u; d < p.hd; d++) {
        qk += q[qo + d] * k[kvBase + s * kvRow + d];
        dp += dout[qo + d] * v[kvBase + s * kvRow + d];
      }
      ds = exp(p.scale * qk - L) * (dp - D);
    }
    wds[lid] = ds;
    workgroupBarrier();
    let n = min(WG, t + 1u - s0);
    for (var d = lid; d < p.hd; d += WG) {
      var a = acc[d];
      for (var i = 0u; i < n; i++) { a += wds[i] * k[kvBase + (s0 + i) * kvRow + d]; }
      acc[d] = a;
    }
    workgroupBarrier();
  }
  for (var d = lid; d < p.hd; d += WG) { dq[qo + d] = p.scale * acc[d]; }
}`;

const DKV = /* wgsl */ `
@group(0) @binding(0) var<storage, read_write> dk: array<f32>;
@group(0) @binding(1) var<storage, read_write> dv: array<f32>;
@group(0) @binding(2) var<storage, read> dout: array<f32>;
@group(0) @binding(3) var<storage, read> q: array<f32>;
@group(0) @binding(4) var<storage, read> k: array<f32>;
@group(0) @binding(5) var<storage, read> v: array<f32>;
@group(0) @binding(6) var<storage, read> stats: array<f32>;
${attentionPrelude(7)}
var<workgroup> wp: array<f32, ${ATT_WG}>;
var<workgroup> wds: array<f32, ${ATT_WG}>;
var<workgroup> dka: array<f32, ${MAX_HEAD_DIM}>;
var<workgroup> dva: array<f32, ${MAX_HEAD_DIM}>;
${MAIN}
  if (group >= p.B * p.nKv * p.T) { return; }
  let s = group % p.T;
  let kvh = (group / p.T) % p.nKv;
  let b = group / (p.T * p.nKv);
  let qRow = p.nHead * p.hd;
  let kvRow = p.nKv * p.hd;
  let ko = (b * p.T + s) * kvRow + kvh * p.hd;
  let heads = p.nHead / p.nKv;
  for (var d = lid; d < p.hd; d += WG) { dka[d] = 0.0; dva[d] = 0.0; }
  for (var hi = 0u; hi < heads; hi++) {
    let h = kvh * heads + hi;
    for (var t0 = s; t0 < p.T; t0 += WG) {
      let t = t0 + lid;
      var pr = 0.0;
      var ds = 0.0;
      if (t < p.T && visible(b, t, s)) {
        let qo = (b * p.T + t) * qRow + h * p.hd;
        let row = (b * p.nHead + h) * p.T + t;
        var qk = 0.0;
        var dp = 0.0;
        for (var d = 0u; d < p.hd; d++) {
          qk += q[qo + d] * k[ko + d];
          dp += dout[qo + d] * v[ko + d];
        }
        pr = exp(p.scale * qk - stats[2u * row]);
        ds = pr * (dp - stats[2u * row + 1u]);
      }
      wp[lid] = pr;
      wds[lid] = ds;
      workgroupBarrier();
      let n = min(WG, p.T - t0);
      for (var d = lid; d < p.hd; d += WG) {
        var a = dka[d];
        var c = dva[d];
        for (var i = 0u; i < n; i++) {
          let qo = (b * p.T + t0 + i) * qRow + h * p.hd;
          a += wds[i] * q[qo + d];
          c += wp[i] * dout[qo + d];
        }
        dka[d] = a;
        dva[d] = c;
      }
      workgroupBarrier();
    }
  }
  for (var d = lid; d < p.hd; d += WG) { dk[ko + d] = p.scale * dka[d]; dv[ko + d] = dva[d]; }
}`;

/** dq, dk, dv overwritten from dout and the forward's q, k, v, out, lse (seg [B·T] or null). */
export function attentionBackward(
  gpu: Gpu,
  dq: GPUBuffer,
  dk: GPUBuffer,
  dv: GPUBuffer,
  dout: GPUBuffer,
  q: GPUBuffer,
  k: GPUBuffer,
  v: GPUBuffer,
  out: GPUBuffer,
  lse: GPUBuffer,
  seg: GPUBuffer | null,
  B: number,
  T: number,
  nHead: number,
  nKv: number,
  headDim: number,
): void {
  checkAttentionHeads(nHead, nKv, headDim);
  if (B * T === 0) return;
  const params = attentionParams(B, T, nHead, nKv, headDim, seg !== null);
  const segBuf = segOrPlaceholder(gpu, seg);
  const rows = B * nHead * T;
  // (lse_t, D_t = dout_t·out_t) per query row, written by the first kernel and read by the other two.
  const stats = gpu.device.createBuffer({ label: "attention stats", size: rows * 8, usage: GPUBufferUsage.STORAGE });
  const statsPipe = pipeline(gpu, "attentionBackwardStats", () => STATS);
  dispatchElements(gpu, statsPipe, [stats, dout, out, lse], params, rows);
  const dqPipe = pipeline(gpu, "attentionBackwardDq", () => DQ);
  dispatch(gpu, dqPipe, [dq, dout, q, k, v, stats, segBuf], params, grid(rows));
  const dkvPipe = pipeline(gpu, "attentionBackwardDkv", () => DKV);
  dispatch(gpu, dkvPipe, [dk, dv, dout, q, k, v, stats, segBuf], params, grid(B * nKv * T));
}
