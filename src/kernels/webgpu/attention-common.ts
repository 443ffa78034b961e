/// <reference types="@webgpu/types" />
/**
 * What the WebGPU attention kernels share (attention-forward.ts, attention-backward.ts): the layout (q/out
 * [B·T, nHead·hd], k/v [B·T, nKv·hd], lse [B, nHead, T], as the Kernels interface), the uniform block, the
 * visibility test (causal, and the same segment when seg is given) and the host's argument checks.
 * Keys (or queries) are taken WG = 64 at a time: each invocation scores one of them, then each invocation
 * accumulates its own columns d = lid, lid+64, … of the head across the chunk, held in workgroup memory (hence
 * headDim ≤ MAX_HEAD_DIM).
 */
import type { Gpu, UniformWord } from "./gpu.ts";

/** Invocations per attention workgroup, and keys (or queries) per chunk. */
export const ATT_WG = 64;
/** The largest head the workgroup accumulators hold (every Llama-family model's is 64 to 256). */
export const MAX_HEAD_DIM = 256;

/**
 * The WGSL declarations every attention kernel starts with, after its own bindings: seg at `binding` and the
 * uniform block after it, or (withSeg false, for a kernel that masks nothing) the uniform block at `binding`.
 */
export function attentionPrelude(binding: number, withSeg = true): string {
  const common = /* wgsl */ `
const WG = ${ATT_WG}u;
struct P { B: u32, T: u32, nHead: u32, nKv: u32, hd: u32, hasSeg: u32, scale: f32 }`;
  if (!withSeg) return `${common}\n@group(0) @binding(${binding}) var<uniform> p: P;`;
  return /* wgsl */ `${common}
@group(0) @binding(${binding}) var<storage, read> seg: array<i32>;
@group(0) @binding(${binding + 1}) var<uniform> p: P;
/** Whether token t of sequence b sees token s (s ≤ t is the caller's test). */
fn visible(b: u32, t: u32, s: u32) -> bool {
  return p.hasSeg == 0u || seg[b * p.T + s] == seg[b * p.T + t];
}`;
}

/** The uniform block's words, in P's order. */
export function attentionParams(
  B: number,
  T: number,
  nHead: number,
  nKv: number,
  headDim: number,
  hasSeg: boolean,
): UniformWord[] {
  return [
    ["u32", B],
    ["u32", T],
    ["u32", nHead],
    ["u32", nKv],
    ["u32", headDim],
    ["u32", hasSeg ? 1 : 0],
    ["f32", 1 / Math.sqrt(headDim)],
  ];
}

/** Throws on head counts the kernels cannot take (the reference's checks, and the accumulators' size). */
export function checkAttentionHeads(nHead: number, nKv: number, headDim: number): void {
  if (nKv <= 0 || nHead % nKv !== 0) {
    throw new RangeError(`attention: nHead (${nHead}) must be a positive multiple of nKv (${nKv})`);
  }
  if (headDim <= 0 || headDim > MAX_HEAD_DIM) {
    throw new RangeError(`webgpu attention: headDim must be in [1, ${MAX_HEAD_DIM}] (got ${headDim})`);
  }
}

/** The seg buffer to bind: the caller's, or a 4-byte placeholder when there is none (hasSeg = 0 ignores it). */
export function segOrPlaceholder(gpu: Gpu, seg: GPUBuffer | null): GPUBuffer {
  return seg ?? gpu.device.createBuffer({ size: 4, usage: GPUBufferUsage.STORAGE });
}
