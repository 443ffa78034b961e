/// <reference types="@webgpu/types" />
/**
 * Moving tensors between the host and the GPU: storage buffers made from typed arrays, and reading one back.
 * The backend keeps weights, activations and the adapter resident; only the loss and metrics are read each step.
 */
import type { Gpu } from "./gpu.ts";

/** Usage of every tensor buffer: bound as storage, written by the host, copied out for reading. */
const TENSOR_USAGE = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST | GPUBufferUsage.COPY_SRC;

/** A storage buffer holding a copy of `data` (at least 4 bytes: zero-sized bindings are invalid). */
export function upload(gpu: Gpu, data: Float32Array | Int32Array, label = "tensor"): GPUBuffer {
  const size = Math.max(4, data.byteLength);
  const buf = gpu.device.createBuffer({ label, size, usage: TENSOR_USAGE, mappedAtCreation: true });
  const ctor = data instanceof Float32Array ? Float32Array : Int32Array;
  new ctor(buf.getMappedRange()).set(data);
  buf.unmap();
  return buf;
}

/** The first `n` f32 values of `buf`, after all work submitted so far has finished. */
export async function readF32(gpu: Gpu, buf: GPUBuffer, n: number): Promise<Float32Array> {
  const size = Math.max(4, n * 4);
  const staging = gpu.device.createBuffer({ size, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
  const enc = gpu.device.createCommandEncoder();
  enc.copyBufferToBuffer(buf, 0, staging, 0, size);
  gpu.device.queue.submit([enc.finish()]);
  await staging.mapAsync(GPUMapMode.READ);
  const out = new Float32Array(staging.getMappedRange().slice(0, n * 4));
  staging.unmap();
  staging.destroy();
  return out;
}
