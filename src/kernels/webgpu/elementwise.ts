/// <reference types="@webgpu/types" />
/**
 * The launch shape of the one-thread-per-element kernels (SwiGLU, RoPE, AdamW): 256-invocation workgroups on a
 * `grid()`, invocation `i` handling element i; the shader returns for i ≥ its count.
 */
import { dispatch, type Gpu, grid, type UniformWord } from "./gpu.ts";

/** Invocations per elementwise workgroup. */
export const ELEM_WG = 256;

/** The WGSL entry point header; the body continues after `let i = …;` with i the element index. */
export const ELEM_MAIN = /* wgsl */ `
@compute @workgroup_size(${ELEM_WG})
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lid: u32) {
  let i = (wg.x + wg.y * nwg.x) * ${ELEM_WG}u + lid;`;

/** Launches `pipe` over `count` elements. */
export function dispatchElements(
  gpu: Gpu,
  pipe: GPUComputePipeline,
  storage: readonly GPUBuffer[],
  params: readonly UniformWord[],
  count: number,
): void {
  if (count === 0) return;
  dispatch(gpu, pipe, storage, params, grid(Math.ceil(count / ELEM_WG)));
}
