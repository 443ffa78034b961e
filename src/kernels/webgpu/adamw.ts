/// <reference types="@webgpu/types" />
/**
 * One AdamW step in WGSL with PyTorch's semantics (the reference: kernels/ref/adamw.ts), one invocation per
 * element, in place on param, m, v:
 *   p ← p·(1 − lr·wd);  m ← β1·m + (1−β1)·g;  v ← β2·v + (1−β2)·g²;  p ← p − stepSize·m / (sqrt(v)/bc2 + eps)
 * with stepSize = lr/(1−β1^t) and bc2 = sqrt(1−β2^t). The scalars are computed on the host in f64, as Python
 * does, and passed rounded to f32; each element's arithmetic is f32 (the reference's is f64, rounded per stored
 * tensor).
 */
import { dispatchElements, ELEM_MAIN } from "./elementwise.ts";
import { type Gpu, pipeline } from "./gpu.ts";

const ADAMW = /* wgsl */ `
struct P { n: u32, decay: f32, beta1: f32, oneMinusBeta1: f32, beta2: f32, oneMinusBeta2: f32,
           stepSize: f32, bc2Sqrt: f32, eps: f32 }
@group(0) @binding(0) var<storage, read_write> param: array<f32>;
@group(0) @binding(1) var<storage, read_write> m: array<f32>;
@group(0) @binding(2) var<storage, read_write> v: array<f32>;
@group(0) @binding(3) var<storage, read> grad: array<f32>;
@group(0) @binding(4) var<uniform> p: P;
${ELEM_MAIN}
  if (i >= p.n) { return; }
  let g = grad[i];
  let pd = param[i] * p.decay;
  let mi = p.beta1 * m[i] + p.oneMinusBeta1 * g;
  let vi = p.beta2 * v[i] + p.oneMinusBeta2 * g * g;
  m[i] = mi;
  v[i] = vi;
  param[i] = pd - p.stepSize * mi / (sqrt(vi) / p.bc2Sqrt + p.eps);
}`;

/** The Kernels.adamw step on GPU buffers (param, m, v updated in place; step counts from 1). */
export function adamw(
  gpu: Gpu,
  param: GPUBuffer,
  grad: GPUBuffer,
  m: GPUBuffer,
  v: GPUBuffer,
  n: number,
  lr: number,
  beta1: number,
  beta2: number,
  eps: number,
  weightDecay: number,
  step: number,
): void {
  if (!(step >= 1) || !Number.isInteger(step)) throw new RangeError(`adamw: step must be an integer ≥ 1 (got ${step})`);
  const params: ["u32" | "f32", number][] = [
    ["u32", n],
    ["f32", 1 - lr * weightDecay],
    ["f32", beta1],
    ["f32", 1 - beta1],
    ["f32", beta2],
    ["f32", 1 - beta2],
    ["f32", lr / (1 - beta1 ** step)],
    ["f32", Math.sqrt(1 - beta2 ** step)],
    ["f32", eps],
  ];
  dispatchElements(
    gpu,
    pipeline(gpu, "adamw", () => ADAMW),
    [param, m, v, grad],
    params,
    n,
  );
}
