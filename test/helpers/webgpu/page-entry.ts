/// <reference types="@webgpu/types" />
/**
 * The browser side of the WebGPU kernel tests (bundled by esbuild into the test page, see browser.ts):
 * `globalThis.webgpuKernels.run(request)` uploads the request's arrays to storage buffers, runs one kernel of
 * src/kernels/webgpu on them, and returns the arrays named in `read`, as plain number arrays.
 */

import { adamw } from "../../../src/kernels/webgpu/adamw.ts";
import { addBias, addInPlace, biasBackward } from "../../../src/kernels/webgpu/add.ts";
import { attentionBackward } from "../../../src/kernels/webgpu/attention-backward.ts";
import { attentionForward } from "../../../src/kernels/webgpu/attention-forward.ts";
import { readF32, upload } from "../../../src/kernels/webgpu/buffers.ts";
import { crossEntropy } from "../../../src/kernels/webgpu/cross-entropy.ts";
import { embeddingBackward, embeddingForward, embeddingGradPlan } from "../../../src/kernels/webgpu/embedding.ts";
import { createGpu, type Gpu } from "../../../src/kernels/webgpu/gpu.ts";
import { matmul } from "../../../src/kernels/webgpu/matmul.ts";
import { rmsnormBackward, rmsnormForward } from "../../../src/kernels/webgpu/rmsnorm.ts";
import { ropeBackward, ropeForward } from "../../../src/kernels/webgpu/rope.ts";
import { swigluBackward, swigluForward } from "../../../src/kernels/webgpu/swiglu.ts";
import type { KernelRequest, PageGlobal, PageKernels } from "./request.ts";

type Bufs = Record<string, GPUBuffer>;
type Scalars = Record<string, number>;

/** The b operand's format: bf16 when the request says so (the weight entries matmulWNT/matmulWNN). */
const bFormat = (s: Scalars) => (s.bf16 === 1 ? "bf16" : "f32");

/** One adapter per kernel: request names → the kernel's positional arguments. */
const OPS: Record<string, (gpu: Gpu, b: Bufs, s: Scalars, req: KernelRequest) => void> = {
  matmulNT: (g, b, s) => matmul(g, "NT", b.out!, b.a!, b.b!, s.M!, s.N!, s.K!, s.accumulate === 1, bFormat(s)),
  matmulNN: (g, b, s) => matmul(g, "NN", b.out!, b.a!, b.b!, s.M!, s.N!, s.K!, s.accumulate === 1, bFormat(s)),
  matmulTN: (g, b, s) => matmul(g, "TN", b.out!, b.a!, b.b!, s.M!, s.N!, s.K!, s.accumulate === 1, bFormat(s)),
  rmsnormForward: (g, b, s) => rmsnormForward(g, b.out!, b.rstd!, b.x!, b.weight!, s.N!, s.C!, s.eps!),
  rmsnormBackward: (g, b, s) =>
    rmsnormBackward(g, b.dx!, b.dweight ?? null, b.dout!, b.x!, b.weight!, b.rstd!, s.N!, s.C!),
  ropeForward: (g, b, s) => ropeForward(g, b.x!, b.pos!, b.cos!, b.sin!, s.N!, s.nHeads!, s.headDim!, s.maxPos!),
  ropeBackward: (g, b, s) => ropeBackward(g, b.x!, b.pos!, b.cos!, b.sin!, s.N!, s.nHeads!, s.headDim!, s.maxPos!),
  swigluForward: (g, b, s) => swigluForward(g, b.out!, b.gate!, b.up!, s.n!),
  swigluBackward: (g, b, s) => swigluBackward(g, b.dgate!, b.dup!, b.dout!, b.gate!, b.up!, s.n!),
  crossEntropy: (g, b, s) =>
    crossEntropy(g, b.losses!, b.dlogits ?? null, b.logits!, b.targets!, s.N!, s.V!, s.gradScale!),
  attentionForward: (g, b, s) =>
    attentionForward(g, b.out!, b.lse!, b.q!, b.k!, b.v!, b.seg ?? null, s.B!, s.T!, s.nHead!, s.nKv!, s.headDim!),
  attentionBackward: (g, b, s) =>
    attentionBackward(
      g,
      b.dq!,
      b.dk!,
      b.dv!,
      b.dout!,
      b.q!,
      b.k!,
      b.v!,
      b.out!,
      b.lse!,
      b.seg ?? null,
      s.B!,
      s.T!,
      s.nHead!,
      s.nKv!,
      s.headDim!,
    ),
  addInPlace: (g, b, s) => addInPlace(g, b.out!, b.a!, s.n!),
  addBias: (g, b, s) => addBias(g, b.out!, b.bias!, s.M!, s.N!),
  biasBackward: (g, b, s) => biasBackward(g, b.dbias!, b.dout!, s.M!, s.N!),
  embeddingForward: (g, b, s) =>
    embeddingForward(g, b.out!, b.ids!, b.table!, s.bf16 === 1 ? "bf16" : "f32", s.N!, s.C!),
  embeddingBackward: (g, b, s, req) =>
    embeddingBackward(g, b.dtable!, b.dout!, embeddingGradPlan(g, new Int32Array(req.i32!.ids!), s.N!, s.V!), s.C!),
  adamw: (g, b, s) =>
    adamw(g, b.param!, b.grad!, b.m!, b.v!, s.n!, s.lr!, s.beta1!, s.beta2!, s.eps!, s.weightDecay!, s.step!),
};

/** The device, or why there is none (no navigator.gpu, no adapter). */
async function open(): Promise<Gpu | string> {
  if (!("gpu" in navigator)) return "navigator.gpu is missing (WebGPU disabled in this browser)";
  const adapter = await navigator.gpu.requestAdapter();
  if (adapter === null) return "navigator.gpu.requestAdapter() found no adapter";
  return createGpu(await adapter.requestDevice());
}

async function run(gpu: Gpu, req: KernelRequest): Promise<Record<string, number[]>> {
  const op = OPS[req.op];
  if (op === undefined) throw new Error(`page-entry: no kernel "${req.op}"`);
  const bufs: Bufs = {};
  for (const [name, v] of Object.entries(req.f32)) bufs[name] = upload(gpu, new Float32Array(v), name);
  for (const [name, v] of Object.entries(req.i32 ?? {})) bufs[name] = upload(gpu, new Int32Array(v), name);
  for (const [name, v] of Object.entries(req.u16 ?? {})) bufs[name] = upload(gpu, new Uint16Array(v), name);
  gpu.device.pushErrorScope("validation");
  op(gpu, bufs, req.scalars, req);
  const err = await gpu.device.popErrorScope();
  if (err !== null) throw new Error(`${req.op}: WebGPU validation error: ${err.message}`);
  const out: Record<string, number[]> = {};
  for (const name of req.read) out[name] = Array.from(await readF32(gpu, bufs[name]!, req.f32[name]!.length));
  return out;
}

const device = open();
const kernels: PageKernels = {
  unavailable: async () => {
    const g = await device;
    return typeof g === "string" ? g : undefined;
  },
  run: async (req: KernelRequest) => {
    const g = await device;
    if (typeof g === "string") throw new Error(g);
    return run(g, req);
  },
};
(globalThis as PageGlobal).webgpuKernels = kernels;
