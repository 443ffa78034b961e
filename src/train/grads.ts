/**
 * The gradient loops of a training step, on the kernels (so a backend that owns its memory can run them): zeroing
 * once per step, the global L2 norm, clipping, and finding a non-finite value.
 */
import type { Kernels } from "../kernels/types.ts";
import type { TrainableParam } from "../tensor/trainable.ts";

/** Zeroes every gradient (once per optimizer step; backward accumulates into them). */
export function zeroGrads(k: Kernels, params: TrainableParam[]): void {
  for (const p of params) k.zero(p.grad, p.grad.length);
}

/**
 * Global L2 norm of all gradients: one f64 sum of squares over every element of every parameter, in order (each
 * sumSquares call continues the sum of the one before, so the bits are those of one loop over everything).
 */
export function gradNorm(k: Kernels, params: TrainableParam[]): number {
  let sum = 0;
  for (const p of params) sum = k.sumSquares(p.grad, p.grad.length, sum);
  return Math.sqrt(sum);
}

/** Multiplies every gradient by `factor` (clipping to a maximum norm). */
export function scaleGrads(k: Kernels, params: TrainableParam[], factor: number): void {
  for (const p of params) k.scale(p.grad, p.grad.length, factor);
}

/** The first parameter whose gradient holds a NaN or ±inf, if any. */
export function firstNonFiniteGrad(k: Kernels, params: TrainableParam[]): TrainableParam | undefined {
  return params.find((p) => k.firstNonFinite(p.grad, p.grad.length) >= 0);
}
