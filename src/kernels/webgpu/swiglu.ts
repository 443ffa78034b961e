/// <reference types="@webgpu/types" />
/**
 * SwiGLU in WGSL, one invocation per element (the reference: kernels/ref/swiglu.ts):
 *   out = silu(gate)·up, silu(g) = g·σ(g), σ(g) = 1/(1 + e^−g);
 *   dup = dout·silu(gate), dgate = dout·up·σ(gate)·(1 + gate·(1 − σ(gate))).
 * For g below about −88, e^−g overflows to +inf in f32 and σ(g) = 1/inf = 0, the correct limit.
 * Outputs must not alias inputs (WebGPU refuses one buffer bound twice when one binding is writable).
 */
import { dispatchElements, ELEM_MAIN } from "./elementwise.ts";
import { type Gpu, pipeline } from "./gpu.ts";

const FORWARD = /* wgsl */ `
struct P { n: u32 }
@group(0) @binding(0) var<storage, read_write> out: array<f32>;
@group(0) @binding(1) var<storage, read> gate: array<f32>;
@group(0) @binding(2) var<storage, read> up: array<f32>;
@group(0) @binding(3) var<uniform> p: P;
${ELEM_MAIN}
  if (i >= p.n) { return; }
  let g = gate[i];
  out[i] = g / (1.0 + exp(-g)) * up[i];
}`;

const BACKWARD = /* wgsl */ `
struct P { n: u32 }
@group(0) @binding(0) var<storage, read_write> dgate: array<f32>;
@group(0) @binding(1) var<storage, read_write> dup: array<f32>;
@group(0) @binding(2) var<storage, read> dout: array<f32>;
@group(0) @binding(3) var<storage, read> gate: array<f32>;
@group(0) @binding(4) var<storage, read> up: array<f32>;
@group(0) @binding(5) var<uniform> p: P;
${ELEM_MAIN}
  if (i >= p.n) { return; }
  let g = gate[i];
  let d = dout[i];
  let sig = 1.0 / (1.0 + exp(-g));
  dgate[i] = d * up[i] * sig * (1.0 + g * (1.0 - sig));
  dup[i] = d * g * sig;
}`;

/** out[n] = silu(gate[n])·up[n]. */
export function swigluForward(gpu: Gpu, out: GPUBuffer, gate: GPUBuffer, up: GPUBuffer, n: number): void {
  dispatchElements(
    gpu,
    pipeline(gpu, "swigluForward", () => FORWARD),
    [out, gate, up],
    [["u32", n]],
    n,
  );
}

/** dgate[n], dup[n] overwritten from dout and the forward's gate, up. */
export function swigluBackward(
  gpu: Gpu,
  dgate: GPUBuffer,
  dup: GPUBuffer,
  dout: GPUBuffer,
  gate: GPUBuffer,
  up: GPUBuffer,
  n: number,
): void {
  const pipe = pipeline(gpu, "swigluBackward", () => BACKWARD);
  dispatchElements(gpu, pipe, [dgate, dup, dout, gate, up], [["u32", n]], n);
}
