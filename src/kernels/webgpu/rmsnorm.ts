/// <reference types="@webgpu/types" />
/**
 * RMSNorm over rows x[N,C] in WGSL (the reference: kernels/ref/rmsnorm.ts):
 *   forward  out = x·r·w, r = 1/sqrt(mean(x²) + eps) saved in rstd[N]: one 256-invocation workgroup per row,
 *            each invocation summing x² over a strided slice of the row, then a tree reduction;
 *   backward dx_j = r·w_j·g_j − (r³/C)·x_j·Σ_i g_i·w_i·x_i, the same way per row; and, when the weight is
 *            trained, dweight_j += Σ_rows g_j·x_j·r by a second kernel with one invocation per column walking the
 *            rows in order (no atomics: f32 atomic adds do not exist in WGSL, and the order stays fixed).
 * Unlike the CPU kernels, out must not alias x and dx must not alias dout (WebGPU refuses one buffer bound twice
 * when one binding is writable).
 */
import { dispatch, type Gpu, GROUP_INDEX, grid, pipeline } from "./gpu.ts";
import { ROW_WG, reduceWgsl } from "./reduce.ts";

const FORWARD = /* wgsl */ `
struct P { N: u32, C: u32, eps: f32 }
@group(0) @binding(0) var<storage, read_write> out: array<f32>;
@group(0) @binding(1) var<storage, read_write> rstd: array<f32>;
@group(0) @binding(2) var<storage, read> x: array<f32>;
@group(0) @binding(3) var<storage, read> w: array<f32>;
@group(0) @binding(4) var<uniform> p: P;
${reduceWgsl("sum", "a + b")}
@compute @workgroup_size(${ROW_WG})
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lid: u32) {
  ${GROUP_INDEX}
  if (group >= p.N) { return; }
  let o = group * p.C;
  var ss = 0.0;
  for (var c = lid; c < p.C; c += ${ROW_WG}u) { ss += x[o + c] * x[o + c]; }
  let r = 1.0 / sqrt(sum(lid, ss) / f32(p.C) + p.eps);
  if (lid == 0u) { rstd[group] = r; }
  for (var c = lid; c < p.C; c += ${ROW_WG}u) { out[o + c] = x[o + c] * r * w[c]; }
}`;

const BACKWARD_DX = /* wgsl */ `
struct P { N: u32, C: u32 }
@group(0) @binding(0) var<storage, read_write> dx: array<f32>;
@group(0) @binding(1) var<storage, read> dout: array<f32>;
@group(0) @binding(2) var<storage, read> x: array<f32>;
@group(0) @binding(3) var<storage, read> w: array<f32>;
@group(0) @binding(4) var<storage, read> rstd: array<f32>;
@group(0) @binding(5) var<uniform> p: P;
${reduceWgsl("sum", "a + b")}
@compute @workgroup_size(${ROW_WG})
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lid: u32) {
  ${GROUP_INDEX}
  if (group >= p.N) { return; }
  let o = group * p.C;
  var gwx = 0.0;
  for (var c = lid; c < p.C; c += ${ROW_WG}u) { gwx += dout[o + c] * w[c] * x[o + c]; }
  let r = rstd[group];
  let k = r * r * r * sum(lid, gwx) / f32(p.C);
  for (var c = lid; c < p.C; c += ${ROW_WG}u) { dx[o + c] = r * w[c] * dout[o + c] - k * x[o + c]; }
}`;

const BACKWARD_DW = /* wgsl */ `
struct P { N: u32, C: u32 }
@group(0) @binding(0) var<storage, read_write> dw: array<f32>;
@group(0) @binding(1) var<storage, read> dout: array<f32>;
@group(0) @binding(2) var<storage, read> x: array<f32>;
@group(0) @binding(3) var<storage, read> rstd: array<f32>;
@group(0) @binding(4) var<uniform> p: P;
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3u) {
  let c = gid.x;
  if (c >= p.C) { return; }
  var s = 0.0;
  for (var n = 0u; n < p.N; n++) { s += dout[n * p.C + c] * x[n * p.C + c] * rstd[n]; }
  dw[c] = dw[c] + s;
}`;

/** out[N,C] = x·rstd·weight with rstd[N] saved (out must not alias x). */
export function rmsnormForward(
  gpu: Gpu,
  out: GPUBuffer,
  rstd: GPUBuffer,
  x: GPUBuffer,
  weight: GPUBuffer,
  N: number,
  C: number,
  eps: number,
): void {
  if (N === 0) return;
  const pipe = pipeline(gpu, "rmsnormForward", () => FORWARD);
  const params: ["u32" | "f32", number][] = [
    ["u32", N],
    ["u32", C],
    ["f32", eps],
  ];
  dispatch(gpu, pipe, [out, rstd, x, weight], params, grid(N));
}

/** dx[N,C] overwritten (must not alias dout); dweight[C] += Σ_rows dout·x·rstd unless null (frozen). */
export function rmsnormBackward(
  gpu: Gpu,
  dx: GPUBuffer,
  dweight: GPUBuffer | null,
  dout: GPUBuffer,
  x: GPUBuffer,
  weight: GPUBuffer,
  rstd: GPUBuffer,
  N: number,
  C: number,
): void {
  if (N === 0) return;
  const dims: ["u32", number][] = [
    ["u32", N],
    ["u32", C],
  ];
  dispatch(
    gpu,
    pipeline(gpu, "rmsnormBackwardDx", () => BACKWARD_DX),
    [dx, dout, x, weight, rstd],
    dims,
    grid(N),
  );
  if (dweight === null) return;
  const pipe = pipeline(gpu, "rmsnormBackwardDw", () => BACKWARD_DW);
  dispatch(gpu, pipe, [dweight, dout, x, rstd], dims, [Math.ceil(C / 64), 1]);
}
