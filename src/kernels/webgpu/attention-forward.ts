/// <reference types="@webgpu/types" />
/**
 * Causal grouped-query attention forward in WGSL (the reference: kernels/ref/attention.ts attentionForward):
 * one 64-invocation workgroup per query row (b, h, t), walking the keys s ≤ t 64 at a time with an online
 * softmax: each chunk's scores (invocation i: scale·q·k_{s0+i}) raise the running max M, the accumulator and the
 * running sum are rescaled by e^{M_old − M_new}, and the chunk's weights e^{score − M} are added in. The scores
 * never leave workgroup memory (no [T, T] buffer), and lse = M + log Σ is saved for the backward. Masked keys
 * (another segment) weigh exactly 0.
 */
import {
  ATT_WG,
  attentionParams,
  attentionPrelude,
  checkAttentionHeads,
  MAX_HEAD_DIM,
  segOrPlaceholder,
} from "./attention-common.ts";
import { dispatch, type Gpu, GROUP_INDEX, grid, pipeline } from "./gpu.ts";
import { reduceWgsl } from "./reduce.ts";

const FORWARD = /* wgsl */ `
@group(0) @binding(0) var<storage, read_write> out: array<f32>;
@group(0) @binding(1) var<storage, read_write> lse: array<f32>;
@group(0) @binding(2) var<storage, read> q: array<f32>;
@group(0) @binding(3) var<storage, read> k: array<f32>;
@group(0) @binding(4) var<storage, read> v: array<f32>;
${attentionPrelude(5)}
var<workgroup> wp: array<f32, ${ATT_WG}>;
var<workgroup> acc: array<f32, ${MAX_HEAD_DIM}>;
${reduceWgsl("rmax", "max(a, b)", ATT_WG)}
${reduceWgsl("rsum", "a + b", ATT_WG)}
@compute @workgroup_size(${ATT_WG})
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lid: u32) {
  ${GROUP_INDEX}
  if (group >= p.B * p.nHead * p.T) { return; }
  let t = group % p.T;
  let h = (group / p.T) % p.nHead;
  let b = group / (p.T * p.nHead);
  let qRow = p.nHead * p.hd;
  let kvRow = p.nKv * p.hd;
  let qo = (b * p.T + t) * qRow + h * p.hd;
  let kvBase = b * p.T * kvRow + (h / (p.nHead / p.nKv)) * p.hd;
  for (var d = lid; d < p.hd; d += WG) { acc[d] = 0.0; }
  var M = -3.0e38; // below every score: the first chunk's max replaces it (e^{M − M_new} = 0)
  var l = 0.0;
  for (var s0 = 0u; s0 <= t; s0 += WG) {
    let s = s0 + lid;
    let ok = s <= t && visible(b, t, s);
    var sc = -3.0e38;
    if (ok) {
      var dot = 0.0;
      for (var d = 0u; d < p.hd; d++) { dot += q[qo + d] * k[kvBase + s * kvRow + d]; }
      sc = p.scale * dot;
    }
    let mNew = max(M, rmax(lid, sc));
    let pr = select(0.0, exp(sc - mNew), ok);
    let alpha = exp(M - mNew);
    l = l * alpha + rsum(lid, pr);
    wp[lid] = pr;
    workgroupBarrier();
    let n = min(WG, t + 1u - s0);
    for (var d = lid; d < p.hd; d += WG) {
      var a = acc[d] * alpha;
      for (var i = 0u; i < n; i++) { a += wp[i] * v[kvBase + (s0 + i) * kvRow + d]; }
      acc[d] = a;
    }
    workgroupBarrier();
    M = mNew;
  }
  for (var d = lid; d < p.hd; d += WG) { out[qo + d] = acc[d] / l; }
  if (lid == 0u) { lse[(b * p.nHead + h) * p.T + t] = M + log(l); }
}`;

/** out[B·T, nHead·hd] and lse[B, nHead, T] from q, k, v (seg [B·T] or null: see the Kernels interface). */
export function attentionForward(
  gpu: Gpu,
  out: GPUBuffer,
  lse: GPUBuffer,
  q: GPUBuffer,
  k: GPUBuffer,
  v: GPUBuffer,
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
  const storage = [out, lse, q, k, v, segOrPlaceholder(gpu, seg)];
  dispatch(
    gpu,
    pipeline(gpu, "attentionForward", () => FORWARD),
    storage,
    params,
    grid(B * nHead * T),
  );
}
