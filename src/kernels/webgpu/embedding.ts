/// <reference types="@webgpu/types" />
/**
 * Token embedding in WGSL (the reference: kernels/ref/embedding.ts) on a table [V, C]:
 * - forward: out[n, :] = table[ids[n], :], one invocation per element, for an f32 table or a bf16 one (read as
 *   packed u32 words and widened by a shift: exact, as the reference);
 * - backward: dtable[ids[n], :] += dout[n, :]. A scatter-add would need float atomics, which WGSL lacks, so the
 *   host turns the batch's ids into a plan (EmbeddingGradPlan: each distinct id with the positions that use it,
 *   in increasing order) when it uploads the batch, and one invocation per (distinct id, column) adds its
 *   positions' gradients in that order: the reference's order and f32 roundings, so the result is exact.
 * Ids are checked on the CPU (the reference's checkIds) when the batch is uploaded.
 */
import { checkIds } from "../ref/embedding.ts";
import { bf16Read } from "./bf16.ts";
import { upload } from "./buffers.ts";
import { dispatchElements, ELEM_MAIN } from "./elementwise.ts";
import { type Gpu, pipeline } from "./gpu.ts";

/** The forward for an f32 (`array<f32>`) or bf16 (`array<u32>`, two values a word) table. */
function forwardWgsl(bf16: boolean): string {
  const read = bf16 ? bf16Read("table", "j") : "table[j]";
  return /* wgsl */ `
struct P { N: u32, C: u32 }
@group(0) @binding(0) var<storage, read_write> out: array<f32>;
@group(0) @binding(1) var<storage, read> ids: array<i32>;
@group(0) @binding(2) var<storage, read> table: array<${bf16 ? "u32" : "f32"}>;
@group(0) @binding(3) var<uniform> p: P;
${ELEM_MAIN}
  if (i >= p.N * p.C) { return; }
  let n = i / p.C;
  let j = u32(ids[n]) * p.C + i % p.C;
  out[i] = ${read};
}`;
}

const BACKWARD = /* wgsl */ `
struct P { rows: u32, C: u32 }
@group(0) @binding(0) var<storage, read_write> dtable: array<f32>;
@group(0) @binding(1) var<storage, read> dout: array<f32>;
@group(0) @binding(2) var<storage, read> plan: array<u32>; // [rows ids | rows+1 offsets | positions]
@group(0) @binding(3) var<uniform> p: P;
${ELEM_MAIN}
  if (i >= p.rows * p.C) { return; }
  let r = i / p.C;
  let c = i % p.C;
  let o = plan[r] * p.C + c;
  var acc = dtable[o];
  for (var k = plan[p.rows + r]; k < plan[p.rows + r + 1u]; k++) {
    acc = acc + dout[plan[2u * p.rows + 1u + k] * p.C + c];
  }
  dtable[o] = acc;
}`;

/** out[N,C] = table[ids[n], :] for a table [V,C] in f32 or bf16 (ids checked by the caller against V). */
export function embeddingForward(
  gpu: Gpu,
  out: GPUBuffer,
  ids: GPUBuffer,
  table: GPUBuffer,
  format: "f32" | "bf16",
  N: number,
  C: number,
): void {
  const bf16 = format === "bf16";
  const pipe = pipeline(gpu, `embeddingForward:${format}`, () => forwardWgsl(bf16));
  const params: ["u32", number][] = [
    ["u32", N],
    ["u32", C],
  ];
  dispatchElements(gpu, pipe, [out, ids, table], params, N * C);
}

/** A batch's ids grouped for the backward: the distinct ids, and for each the positions using it, in order. */
export interface EmbeddingGradPlan {
  /** Distinct ids in the batch. */
  readonly rows: number;
  /** u32 words: the distinct ids [rows], their offsets into the positions [rows + 1], the positions [N]. */
  readonly buffer: GPUBuffer;
}

/** The plan's words for ids[N] (checked against the vocabulary V, with the reference's message). */
export function embeddingGradPlanWords(ids: Int32Array, N: number, V: number): Uint32Array {
  checkIds(ids, N, V, "embeddingBackward");
  const byId = new Map<number, number[]>();
  for (let n = 0; n < N; n++) {
    const list = byId.get(ids[n]!);
    if (list === undefined) byId.set(ids[n]!, [n]);
    else list.push(n);
  }
  const rows = byId.size;
  const words = new Uint32Array(2 * rows + 1 + N);
  let r = 0;
  let k = 0;
  for (const [id, positions] of byId) {
    words[r] = id;
    words[rows + r] = k;
    for (const n of positions) words[2 * rows + 1 + k++] = n;
    r++;
  }
  words[2 * rows] = k;
  return words;
}

/** Builds and uploads the plan for a batch's ids (once per batch, with the batch). */
export function embeddingGradPlan(gpu: Gpu, ids: Int32Array, N: number, V: number): EmbeddingGradPlan {
  const words = embeddingGradPlanWords(ids, N, V);
  const rows = (words.length - 1 - N) / 2;
  return { rows, buffer: upload(gpu, new Int32Array(words.buffer), "embedding plan") };
}

/** dtable[ids[n], :] += dout[n, :] for the batch of `plan`, in the reference's order (exact). */
export function embeddingBackward(
  gpu: Gpu,
  dtable: GPUBuffer,
  dout: GPUBuffer,
  plan: EmbeddingGradPlan,
  C: number,
): void {
  const params: ["u32", number][] = [
    ["u32", plan.rows],
    ["u32", C],
  ];
  dispatchElements(
    gpu,
    pipeline(gpu, "embeddingBackward", () => BACKWARD),
    [dtable, dout, plan.buffer],
    params,
    plan.rows * C,
  );
}
