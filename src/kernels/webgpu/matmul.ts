/// <reference types="@webgpu/types" />
/**
 * The three f32 matrix products of a linear layer, as one tiled shared-memory WGSL kernel with three loaders:
 *   NT: out[M,N] (+)= a[M,K] · b[N,K]ᵀ   (forward, y = x·Wᵀ)
 *   NN: out[M,N] (+)= a[M,K] · b[K,N]    (input gradient, dx = dy·W)
 *   TN: out[M,N] (+)= a[K,M]ᵀ · b[K,N]   (weight gradient, dW = dyᵀ·x)
 * A 16×16 workgroup computes a 16×16 tile of out, one element per invocation, stepping through K 16 at a time:
 * each step the workgroup stages a 16×16 tile of a and of b in workgroup memory (each value read from global
 * memory once per tile instead of 16 times), then every invocation takes a 16-term dot product from it.
 * Loaders assign invocations so that neighbouring invocations (consecutive local x) read consecutive addresses
 * of the stored layout, whichever operand is transposed; transposed tiles are written across the padded row
 * (17 floats) so that the stores do not all fall in one bank. Out-of-range elements load as 0 (odd shapes).
 * Accumulation is f32 in k order, one tile after the other (not the reference's f64).
 * The weight operand b may be bf16 (matmulWNT/matmulWNN's format): it is widened exactly as it is staged, so a
 * bf16 weight takes half the memory and reads, and loses nothing beyond its own rounding.
 */
import { bf16Read } from "./bf16.ts";
import { dispatch, type Gpu, MAX_GROUPS_PER_DIM, pipeline } from "./gpu.ts";

export type MatmulLayout = "NT" | "NN" | "TN";

/** Tile edge: 16×16 = 256 invocations, WebGPU's guaranteed maximum per workgroup. */
const T = 16;

/**
 * The WGSL statements that stage one tile of a into ta[row][k] and of b into tb[k][col], for the tile at
 * (row0, col0) and k0; invocation (lx, ly) loads one value of each.
 */
const LOADERS: Record<MatmulLayout, { a: string; b: string }> = {
  // a [M,K] row-major: lx walks k (contiguous).
  NT: {
    a: "ta[ly][lx] = lda(row0 + ly < d.M && k0 + lx < d.K, (row0 + ly) * d.K + k0 + lx);",
    // b [N,K]: lx walks k (contiguous), ly walks the output column.
    b: "tb[lx][ly] = ldb(col0 + ly < d.N && k0 + lx < d.K, (col0 + ly) * d.K + k0 + lx);",
  },
  NN: {
    a: "ta[ly][lx] = lda(row0 + ly < d.M && k0 + lx < d.K, (row0 + ly) * d.K + k0 + lx);",
    // b [K,N]: lx walks the output column (contiguous).
    b: "tb[ly][lx] = ldb(k0 + ly < d.K && col0 + lx < d.N, (k0 + ly) * d.N + col0 + lx);",
  },
  TN: {
    // a [K,M]: lx walks the output row (contiguous), ly walks k.
    a: "ta[lx][ly] = lda(row0 + lx < d.M && k0 + ly < d.K, (k0 + ly) * d.M + row0 + lx);",
    b: "tb[ly][lx] = ldb(k0 + ly < d.K && col0 + lx < d.N, (k0 + ly) * d.N + col0 + lx);",
  },
};

/** The formats of the b operand: f32, or bf16 (a weight). */
export type MatmulBFormat = "f32" | "bf16";

function matmulWgsl(layout: MatmulLayout, bFormat: MatmulBFormat): string {
  const { a, b } = LOADERS[layout];
  const bf16 = bFormat === "bf16";
  return /* wgsl */ `
struct Dims { M: u32, N: u32, K: u32, accumulate: u32 }
@group(0) @binding(0) var<storage, read_write> out: array<f32>;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<${bf16 ? "u32" : "f32"}>;
@group(0) @binding(3) var<uniform> d: Dims;
var<workgroup> ta: array<array<f32, ${T + 1}>, ${T}>;
var<workgroup> tb: array<array<f32, ${T + 1}>, ${T}>;

fn lda(ok: bool, i: u32) -> f32 { if (ok) { return a[i]; } return 0.0; }
fn ldb(ok: bool, i: u32) -> f32 { if (ok) { return ${bf16 ? bf16Read("b", "i") : "b[i]"}; } return 0.0; }

@compute @workgroup_size(${T}, ${T})
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let lx = lid.x;
  let ly = lid.y;
  let row0 = wg.y * ${T}u;
  let col0 = wg.x * ${T}u;
  var acc = 0.0;
  for (var k0 = 0u; k0 < d.K; k0 += ${T}u) {
    ${a}
    ${b}
    workgroupBarrier();
    for (var k = 0u; k < ${T}u; k++) { acc += ta[ly][k] * tb[k][lx]; }
    workgroupBarrier();
  }
  let i = row0 + ly;
  let j = col0 + lx;
  if (i < d.M && j < d.N) {
    let o = i * d.N + j;
    if (d.accumulate != 0u) { out[o] = out[o] + acc; } else { out[o] = acc; }
  }
}`;
}

/**
 * out[M,N] (+)= the product of `layout` (see the file comment), b in `bFormat` (f32 unless a bf16 weight);
 * out must not alias a or b.
 */
export function matmul(
  gpu: Gpu,
  layout: MatmulLayout,
  out: GPUBuffer,
  a: GPUBuffer,
  b: GPUBuffer,
  M: number,
  N: number,
  K: number,
  accumulate: boolean,
  bFormat: MatmulBFormat = "f32",
): void {
  if (M === 0 || N === 0) return;
  const gx = Math.ceil(N / T);
  const gy = Math.ceil(M / T);
  if (gx > MAX_GROUPS_PER_DIM || gy > MAX_GROUPS_PER_DIM) {
    throw new RangeError(`webgpu matmul${layout}: [${M}, ${N}] needs more than 65535 tiles of 16 along one side`);
  }
  const pipe = pipeline(gpu, `matmul${layout}:${bFormat}`, () => matmulWgsl(layout, bFormat));
  const params: ["u32", number][] = [
    ["u32", M],
    ["u32", N],
    ["u32", K],
    ["u32", accumulate ? 1 : 0],
  ];
  dispatch(gpu, pipe, [out, a, b], params, [gx, gy]);
}
