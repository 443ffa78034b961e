/// <reference types="@webgpu/types" />
/**
 * The sum, or the sum of squares, of x[n] into one element out[index], in WGSL: one 256-invocation workgroup,
 * each invocation summing a strided slice of x in f32, then the workgroup's tree reduction (reduce.ts). It is how
 * a step's loss (Σ token losses) and the gradients' norms (Σ g² per tensor) reach the host: a handful of floats
 * read back once, instead of the arrays. The f32 result is within (⌈n/256⌉ + 8)·u·Σ|terms| of the exact sum
 * (u = 2⁻²⁴), where the CPU kernels sum in f64.
 */
import { dispatch, type Gpu, pipeline } from "./gpu.ts";
import { ROW_WG, reduceWgsl } from "./reduce.ts";

function sumWgsl(squares: boolean): string {
  return /* wgsl */ `
struct P { n: u32, index: u32 }
@group(0) @binding(0) var<storage, read_write> out: array<f32>;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<uniform> p: P;
${reduceWgsl("total", "a + b")}
@compute @workgroup_size(${ROW_WG})
fn main(@builtin(local_invocation_index) lid: u32) {
  var s = 0.0;
  for (var i = lid; i < p.n; i += ${ROW_WG}u) { ${squares ? "s += x[i] * x[i];" : "s += x[i];"} }
  let t = total(lid, s);
  if (lid == 0u) { out[p.index] = t; }
}`;
}

/** out[index] = Σ x[i] (or Σ x[i]² when `squares`) over i < n; out must not alias x. */
export function sumInto(gpu: Gpu, out: GPUBuffer, index: number, x: GPUBuffer, n: number, squares: boolean): void {
  const key = squares ? "sumSquares" : "sum";
  const params: ["u32", number][] = [
    ["u32", n],
    ["u32", index],
  ];
  dispatch(
    gpu,
    pipeline(gpu, key, () => sumWgsl(squares)),
    [out, x],
    params,
    [1, 1],
  );
}
