/// <reference types="@webgpu/types" />
/**
 * Moving tensors between the host and the GPU: storage buffers made from typed arrays, and reading one back.
 * The backend keeps weights, activations and the adapter resident; only the loss and metrics are read each step.
 */
import { type Gpu, submitRecorded } from "./gpu.ts";

/**
 * Usage of every tensor buffer: bound as storage, written by the host, copied out for reading. A function, not a
 * constant, so that these modules load where the WebGPU globals are not (yet) defined: Node before the `webgpu`
 * package installs them, and the Node tests of the CPU-side parts.
 */
const tensorUsage = () => GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST | GPUBufferUsage.COPY_SRC;

/**
 * A storage buffer holding a copy of `data` (its size rounded up to whole 4-byte words, at least one: zero-sized
 * bindings are invalid). A Uint16Array (bf16 weights) is read by the shaders as packed u32 words, little-endian:
 * value 2i in the low half of word i.
 */
export function upload(gpu: Gpu, data: Float32Array | Int32Array | Uint16Array, label = "tensor"): GPUBuffer {
  const size = Math.max(4, Math.ceil(data.byteLength / 4) * 4);
  const buf = gpu.device.createBuffer({ label, size, usage: tensorUsage(), mappedAtCreation: true });
  new Uint8Array(buf.getMappedRange()).set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
  buf.unmap();
  return buf;
}

/** The first `n` f32 values of `buf`, after all work submitted (or recorded) so far has finished. */
export async function readF32(gpu: Gpu, buf: GPUBuffer, n: number): Promise<Float32Array> {
  submitRecorded(gpu);
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
