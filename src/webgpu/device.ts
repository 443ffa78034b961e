/// <reference types="@webgpu/types" />
/**
 * A GPUDevice for training: WebGPU gives a device the spec's default limits (256 MiB buffers, 128 MiB storage
 * bindings) unless larger ones are requested, so this asks for the adapter's own maxBufferSize and
 * maxStorageBufferBindingSize (the two limits the preflight checks, memory.ts).
 */
import type { GpuBufferLimits } from "./trainer-api.ts";

/** The adapter's two buffer limits as plain numbers. */
export function bufferLimits(limits: GpuBufferLimits): GpuBufferLimits {
  return { maxBufferSize: limits.maxBufferSize, maxStorageBufferBindingSize: limits.maxStorageBufferBindingSize };
}

/** requestDevice with the adapter's largest buffer limits. */
export function requestTrainingDevice(adapter: GPUAdapter, label = "loratune"): Promise<GPUDevice> {
  return adapter.requestDevice({ label, requiredLimits: { ...bufferLimits(adapter.limits) } });
}
