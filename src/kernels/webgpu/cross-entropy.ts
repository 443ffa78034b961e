/// <reference types="@webgpu/types" />
/**
 * Softmax cross-entropy over rows of logits[N,V] in WGSL (the reference: kernels/ref/cross-entropy.ts), one
 * 256-invocation workgroup per row: a max reduction, a Σ e^{l−max} reduction, then
 *   loss = max + log Σ − l_target,   dlogits = (e^{l − lse} − onehot(target))·gradScale   (when wanted).
 * Target −100 marks an ignored row (loss 0, gradient row 0). Targets are made on the CPU with the batch and
 * checked when it is uploaded (checks.ts: checkTargets); the kernel only guards its reads, treating a target
 * outside [0, V) as ignored (WGSL has no portable NaN to flag it with: implementations may assume NaNs absent).
 * The caller sums the losses (read back once per step: the only value that leaves the GPU). dlogits must not
 * alias logits (WebGPU refuses one buffer bound twice when one binding is writable).
 */
import { dispatch, type Gpu, GROUP_INDEX, grid, pipeline } from "./gpu.ts";
import { ROW_WG, reduceWgsl } from "./reduce.ts";

/** The kernel, with the gradient binding and its write only when `grad`. */
function crossEntropyWgsl(grad: boolean): string {
  return /* wgsl */ `
struct P { N: u32, V: u32, gradScale: f32 }
@group(0) @binding(0) var<storage, read_write> losses: array<f32>;
@group(0) @binding(1) var<storage, read> logits: array<f32>;
@group(0) @binding(2) var<storage, read> targets: array<i32>;
${grad ? "@group(0) @binding(3) var<storage, read_write> dlogits: array<f32>;" : ""}
@group(0) @binding(${grad ? 4 : 3}) var<uniform> p: P;
var<workgroup> rowTarget: i32;
${reduceWgsl("rmax", "max(a, b)")}
${reduceWgsl("rsum", "a + b")}
@compute @workgroup_size(${ROW_WG})
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lid: u32) {
  ${GROUP_INDEX}
  if (group >= p.N) { return; }
  let o = group * p.V;
  if (lid == 0u) { rowTarget = targets[group]; }
  let tgt = workgroupUniformLoad(&rowTarget); // uniform: the early return below keeps the reductions uniform
  if (tgt < 0 || u32(tgt) >= p.V) { // -100 (ignored), or out of range (refused on upload)
    if (lid == 0u) { losses[group] = 0.0; }
    ${grad ? `for (var j = lid; j < p.V; j += ${ROW_WG}u) { dlogits[o + j] = 0.0; }` : ""}
    return;
  }
  var m = logits[o]; // V ≥ 1: a value of the row, neutral for max
  for (var j = lid; j < p.V; j += ${ROW_WG}u) { m = max(m, logits[o + j]); }
  m = rmax(lid, m);
  var s = 0.0;
  for (var j = lid; j < p.V; j += ${ROW_WG}u) { s += exp(logits[o + j] - m); }
  let lse = m + log(rsum(lid, s));
  if (lid == 0u) { losses[group] = lse - logits[o + u32(tgt)]; }
  ${
    grad
      ? `for (var j = lid; j < p.V; j += ${ROW_WG}u) {
    let onehot = select(0.0, 1.0, j == u32(tgt));
    dlogits[o + j] = (exp(logits[o + j] - lse) - onehot) * p.gradScale;
  }`
      : ""
  }
}`;
}

/** losses[N] (and dlogits[N,V] unless null) from logits[N,V] and targets[N] (i32, −100 = ignored). */
export function crossEntropy(
  gpu: Gpu,
  losses: GPUBuffer,
  dlogits: GPUBuffer | null,
  logits: GPUBuffer,
  targets: GPUBuffer,
  N: number,
  V: number,
  gradScale: number,
): void {
  if (N === 0) return;
  const grad = dlogits !== null;
  const pipe = pipeline(gpu, grad ? "crossEntropyGrad" : "crossEntropy", () => crossEntropyWgsl(grad));
  const storage = grad ? [losses, logits, targets, dlogits] : [losses, logits, targets];
  const params: ["u32" | "f32", number][] = [
    ["u32", N],
    ["u32", V],
    ["f32", gradScale],
  ];
  dispatch(gpu, pipe, storage, params, grid(N));
}
