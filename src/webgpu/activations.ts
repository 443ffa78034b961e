/// <reference types="@webgpu/types" />
/**
 * The GPU trainer's activation buffers for micro-batches of up to N tokens, sized by memory.ts (the preflight
 * counts the same buffers): each layer's input and what its forward saves for backward, and the buffers the
 * layers share (the model's top, the loss, the backward's scratch). A smaller batch uses the first rows of each.
 * Each buffer is separate because WebGPU refuses one buffer bound twice in a dispatch when one binding is writable.
 */
import type { Gpu } from "../kernels/webgpu/gpu.ts";
import type { ModelConfig } from "../model/config.ts";
import {
  type LayerBufferName as LayerName,
  layerActivationSizes,
  type SharedBufferName as SharedName,
  sharedActivationSizes,
} from "./memory.ts";

export interface GpuActivations {
  /** Tokens the buffers hold. */
  N: number;
  layers: Record<LayerName, GPUBuffer>[];
  shared: Record<SharedName, GPUBuffer>;
  /** The batch: ids, targets, positions, segments ([N] i32 each). */
  ids: GPUBuffer;
  targets: GPUBuffer;
  pos: GPUBuffer;
  seg: GPUBuffer;
  buffers: GPUBuffer[];
}

const usage = () => GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST | GPUBufferUsage.COPY_SRC;

/** Allocates the activations for N tokens and adapters of rank up to maxRank. */
export function allocateGpuActivations(gpu: Gpu, c: ModelConfig, N: number, maxRank: number): GpuActivations {
  const buffers: GPUBuffer[] = [];
  const make = (label: string, values: number) => {
    const b = gpu.device.createBuffer({ label, size: Math.max(4, values * 4), usage: usage() });
    buffers.push(b);
    return b;
  };
  const layers = Array.from({ length: c.numLayers }, (_, l) => {
    const sizes = layerActivationSizes(c, N);
    return Object.fromEntries(
      Object.entries(sizes).map(([name, n]) => [name, make(`layers.${l}.${name}`, n)]),
    ) as Record<LayerName, GPUBuffer>;
  });
  const shared = Object.fromEntries(
    Object.entries(sharedActivationSizes(c, N, maxRank)).map(([name, n]) => [name, make(name, n)]),
  ) as Record<SharedName, GPUBuffer>;
  return {
    N,
    layers,
    shared,
    ids: make("batch.ids", N),
    targets: make("batch.targets", N),
    pos: make("batch.pos", N),
    seg: make("batch.seg", N),
    buffers,
  };
}
