/// <reference types="@webgpu/types" />
/**
 * A linear layer with its LoRA adapter on the GPU, forward and backward, in the CPU's order (nn/linear.ts and
 * lora/methods/lora.ts): y = x·Wᵀ (+ bias), then xa = s·(x·Aᵀ) and y += xa·Bᵀ; backward dx = dy·W, dB += dyᵀ·xa,
 * dxa = s·(dy·B), dA += dxaᵀ·x, dx += dxa·A. The base weight is frozen (no gradient). Dropout is 0 (support.ts).
 * x [M, in]; y, dy [M, out]; W [out, in]; A [r, in]; B [out, r]; xa, dxa [M, r].
 */
import { addBias } from "../kernels/webgpu/add.ts";
import type { Gpu } from "../kernels/webgpu/gpu.ts";
import { matmul } from "../kernels/webgpu/matmul.ts";
import { scaleInPlace } from "../kernels/webgpu/scale.ts";
import type { GpuLinear } from "./gpu-model.ts";

/** y[M, out] = x·Wᵀ + bias + s·(x·Aᵀ)·Bᵀ, saving xa for backward. */
export function gpuLinearForward(gpu: Gpu, y: GPUBuffer, x: GPUBuffer, lin: GpuLinear, M: number): void {
  const { nIn, nOut, weight } = lin;
  matmul(gpu, "NT", y, x, weight.buffer, M, nOut, nIn, false, weight.format);
  if (lin.bias) addBias(gpu, y, lin.bias, M, nOut);
  const a = lin.lora;
  if (!a) return;
  matmul(gpu, "NT", a.xa, x, a.A, M, a.r, nIn, false);
  scaleInPlace(gpu, a.xa, M * a.r, a.scale);
  matmul(gpu, "NT", y, a.xa, a.B, M, nOut, a.r, true);
}

/**
 * Backward of gpuLinearForward: dx[M, in] overwritten (accumulateDx false) or added to (true), or skipped when
 * null; dA and dB accumulate. `dxa` is scratch of at least M·r values.
 */
export function gpuLinearBackward(
  gpu: Gpu,
  dx: GPUBuffer | null,
  dy: GPUBuffer,
  x: GPUBuffer,
  lin: GpuLinear,
  M: number,
  dxa: GPUBuffer,
  accumulateDx: boolean,
): void {
  const { nIn, nOut, weight } = lin;
  if (dx) matmul(gpu, "NN", dx, dy, weight.buffer, M, nIn, nOut, accumulateDx, weight.format);
  const a = lin.lora;
  if (!a) return;
  matmul(gpu, "TN", a.dB, dy, a.xa, nOut, a.r, M, true); // dB[out, r] += dyᵀ·xa
  matmul(gpu, "NN", dxa, dy, a.B, M, a.r, nOut, false); // dxa[M, r] = dy·B
  scaleInPlace(gpu, dxa, M * a.r, a.scale);
  matmul(gpu, "TN", a.dA, dxa, x, a.r, nIn, M, true); // dA[r, in] += dxaᵀ·x
  if (dx) matmul(gpu, "NN", dx, dxa, a.A, M, nIn, a.r, true); // dx += dxa·A
}
