/// <reference types="@webgpu/types" />
/**
 * RoPE in WGSL, rotate-half convention (the reference: kernels/ref/rope.ts), in place on x[N, nHeads·hd]: one
 * invocation per rotated pair (row n, head h, i < hd/2) turns (v_i, v_{i+hd/2}) by the angle sign·θ(pos[n], i)
 * read from the cos/sin tables [maxPos, hd/2]; the backward is the same kernel with sign −1 (the transpose).
 * Positions are made on the CPU with the batch and checked when it is uploaded (checks.ts: checkPositions);
 * the kernel only guards its reads, leaving a pair with a position outside the tables as it is (WGSL has no
 * portable NaN to flag it with: implementations may assume NaNs absent).
 */
import { dispatchElements, ELEM_MAIN } from "./elementwise.ts";
import { type Gpu, pipeline } from "./gpu.ts";

const ROTATE = /* wgsl */ `
struct P { pairs: u32, nHeads: u32, half: u32, maxPos: u32, sign: f32 }
@group(0) @binding(0) var<storage, read_write> x: array<f32>;
@group(0) @binding(1) var<storage, read> pos: array<i32>;
@group(0) @binding(2) var<storage, read> cosT: array<f32>;
@group(0) @binding(3) var<storage, read> sinT: array<f32>;
@group(0) @binding(4) var<uniform> p: P;
${ELEM_MAIN}
  if (i >= p.pairs) { return; }
  let k = i % p.half;               // pair within the head
  let head = i / p.half;            // row·nHeads + h
  let n = head / p.nHeads;
  let o = head * 2u * p.half + k;   // v_k; v_{k+half} is o + half
  let t = pos[n];
  if (t < 0 || u32(t) >= p.maxPos) { return; }
  let c = cosT[u32(t) * p.half + k];
  let s = p.sign * sinT[u32(t) * p.half + k];
  let x1 = x[o];
  let x2 = x[o + p.half];
  x[o] = x1 * c - x2 * s;
  x[o + p.half] = x2 * c + x1 * s;
}`;

function rotate(
  gpu: Gpu,
  x: GPUBuffer,
  pos: GPUBuffer,
  cos: GPUBuffer,
  sin: GPUBuffer,
  N: number,
  nHeads: number,
  headDim: number,
  maxPos: number,
  sign: 1 | -1,
): void {
  if (headDim % 2 !== 0) throw new RangeError(`webgpu rope: headDim must be even (got ${headDim})`);
  const half = headDim / 2;
  const pairs = N * nHeads * half;
  const params: ["u32" | "f32", number][] = [
    ["u32", pairs],
    ["u32", nHeads],
    ["u32", half],
    ["u32", maxPos],
    ["f32", sign],
  ];
  dispatchElements(
    gpu,
    pipeline(gpu, "rope", () => ROTATE),
    [x, pos, cos, sin],
    params,
    pairs,
  );
}

/** x[N, nHeads·headDim] = rope(x) in place; cos/sin are [maxPos, headDim/2], pos[N] the rows' positions. */
export function ropeForward(
  gpu: Gpu,
  x: GPUBuffer,
  pos: GPUBuffer,
  cos: GPUBuffer,
  sin: GPUBuffer,
  N: number,
  nHeads: number,
  headDim: number,
  maxPos: number,
): void {
  rotate(gpu, x, pos, cos, sin, N, nHeads, headDim, maxPos, 1);
}

/** dx[N, nHeads·headDim] = ropeᵀ(dx) in place (rotation by the negative angle). */
export function ropeBackward(
  gpu: Gpu,
  dx: GPUBuffer,
  pos: GPUBuffer,
  cos: GPUBuffer,
  sin: GPUBuffer,
  N: number,
  nHeads: number,
  headDim: number,
  maxPos: number,
): void {
  rotate(gpu, dx, pos, cos, sin, N, nHeads, headDim, maxPos, -1);
}
