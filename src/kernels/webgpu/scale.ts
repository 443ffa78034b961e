/// <reference types="@webgpu/types" />
/**
 * x[n] *= s in place in WGSL, one invocation per element (the reference: Kernels.scale; LoRA's alpha/r on x·Aᵀ and
 * on dy·B, gradient clipping). The factor is rounded to f32 and each product is one correctly rounded f32
 * multiplication.
 */
import { dispatchElements, ELEM_MAIN } from "./elementwise.ts";
import { type Gpu, pipeline } from "./gpu.ts";

const SCALE = /* wgsl */ `
struct P { n: u32, s: f32 }
@group(0) @binding(0) var<storage, read_write> x: array<f32>;
@group(0) @binding(1) var<uniform> p: P;
${ELEM_MAIN}
  if (i >= p.n) { return; }
  x[i] = x[i] * p.s;
}`;

/** x[n] *= s (nothing to do when s is 1). */
export function scaleInPlace(gpu: Gpu, x: GPUBuffer, n: number, s: number): void {
  if (s === 1) return;
  const params: ["u32" | "f32", number][] = [
    ["u32", n],
    ["f32", s],
  ];
  dispatchElements(
    gpu,
    pipeline(gpu, "scale", () => SCALE),
    [x],
    params,
    n,
  );
}
