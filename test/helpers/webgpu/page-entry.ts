/// <reference types="@webgpu/types" />
/**
 * The browser side of the WebGPU kernel tests (bundled by esbuild into the test page, see browser.ts):
 * `globalThis.webgpuKernels.run(request)` uploads the request's arrays to storage buffers, runs one kernel of
 * src/kernels/webgpu on them, and returns the arrays named in `read`, as plain number arrays.
 */

import { readF32, upload } from "../../../src/kernels/webgpu/buffers.ts";
import { createGpu, type Gpu } from "../../../src/kernels/webgpu/gpu.ts";
import { matmul } from "../../../src/kernels/webgpu/matmul.ts";
import type { KernelRequest, PageGlobal, PageKernels } from "./request.ts";

type Bufs = Record<string, GPUBuffer>;
type Scalars = Record<string, number>;

/** One adapter per kernel: request names → the kernel's positional arguments. */
const OPS: Record<string, (gpu: Gpu, b: Bufs, s: Scalars) => void> = {
  matmulNT: (g, b, s) => matmul(g, "NT", b.out!, b.a!, b.b!, s.M!, s.N!, s.K!, s.accumulate === 1),
  matmulNN: (g, b, s) => matmul(g, "NN", b.out!, b.a!, b.b!, s.M!, s.N!, s.K!, s.accumulate === 1),
  matmulTN: (g, b, s) => matmul(g, "TN", b.out!, b.a!, b.b!, s.M!, s.N!, s.K!, s.accumulate === 1),
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
  gpu.device.pushErrorScope("validation");
  op(gpu, bufs, req.scalars);
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
