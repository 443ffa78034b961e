/// <reference types="@webgpu/types" />
/**
 * The additions of a layer in WGSL (the reference: kernels/ref/elementwise.ts): the residual add, the bias add
 * (one invocation per element), and the bias gradient (one invocation per column walking the rows in order, no
 * atomics). WGSL's f32 addition is correctly rounded, so the first two match the reference exactly; the bias
 * gradient sums in f32 where the reference sums in f64.
 */
import { dispatchElements, ELEM_MAIN } from "./elementwise.ts";
import { dispatch, type Gpu, pipeline } from "./gpu.ts";

const ADD_IN_PLACE = /* wgsl */ `
struct P { n: u32 }
@group(0) @binding(0) var<storage, read_write> out: array<f32>;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<uniform> p: P;
${ELEM_MAIN}
  if (i >= p.n) { return; }
  out[i] = out[i] + a[i];
}`;

const ADD_BIAS = /* wgsl */ `
struct P { M: u32, N: u32 }
@group(0) @binding(0) var<storage, read_write> out: array<f32>;
@group(0) @binding(1) var<storage, read> bias: array<f32>;
@group(0) @binding(2) var<uniform> p: P;
${ELEM_MAIN}
  if (i >= p.M * p.N) { return; }
  out[i] = out[i] + bias[i % p.N];
}`;

const BIAS_BACKWARD = /* wgsl */ `
struct P { M: u32, N: u32 }
@group(0) @binding(0) var<storage, read_write> dbias: array<f32>;
@group(0) @binding(1) var<storage, read> dout: array<f32>;
@group(0) @binding(2) var<uniform> p: P;
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3u) {
  let n = gid.x;
  if (n >= p.N) { return; }
  var s = 0.0;
  for (var m = 0u; m < p.M; m++) { s += dout[m * p.N + n]; }
  dbias[n] = dbias[n] + s;
}`;

/** out[i] += a[i] for i < n (out must not alias a). */
export function addInPlace(gpu: Gpu, out: GPUBuffer, a: GPUBuffer, n: number): void {
  dispatchElements(
    gpu,
    pipeline(gpu, "addInPlace", () => ADD_IN_PLACE),
    [out, a],
    [["u32", n]],
    n,
  );
}

/** out[M,N] += bias[N] on every row. */
export function addBias(gpu: Gpu, out: GPUBuffer, bias: GPUBuffer, M: number, N: number): void {
  const params: ["u32", number][] = [
    ["u32", M],
    ["u32", N],
  ];
  dispatchElements(
    gpu,
    pipeline(gpu, "addBias", () => ADD_BIAS),
    [out, bias],
    params,
    M * N,
  );
}

/** dbias[N] += Σ_m dout[m, :]. */
export function biasBackward(gpu: Gpu, dbias: GPUBuffer, dout: GPUBuffer, M: number, N: number): void {
  if (N === 0) return;
  const params: ["u32", number][] = [
    ["u32", M],
    ["u32", N],
  ];
  dispatch(
    gpu,
    pipeline(gpu, "biasBackward", () => BIAS_BACKWARD),
    [dbias, dout],
    params,
    [Math.ceil(N / 64), 1],
  );
}
