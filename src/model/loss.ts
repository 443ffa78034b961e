/**
 * One forward (+ backward) over a batch: the unit the trainer and the evaluator call.
 * The loss of a batch is the mean over its label tokens (targets ≠ -100).
 */
import type { Kernels } from "../kernels/types.ts";
import type { Uniform } from "../nn/linear.ts";
import type { Activations } from "./activations.ts";
import { backward } from "./backward.ts";
import { forward, type ModelInput } from "./forward.ts";
import type { Model } from "./model.ts";

export function countLabelTokens(targets: Int32Array): number {
  let n = 0;
  for (let i = 0; i < targets.length; i++) if (targets[i] !== -100) n++;
  return n;
}

/** Σ token losses of the batch without gradients. */
export function evalLossSum(
  k: Kernels,
  model: Model,
  acts: Activations,
  input: ModelInput,
  logitsOut?: Float32Array,
): number {
  return forward(k, model, acts, input, { uniform: null, gradScale: 0, ...(logitsOut ? { logitsOut } : {}) });
}

/**
 * Forward + backward: gradients of (Σ token losses) · gradScale accumulate into the trainable parameters.
 * For the mean over all label tokens of an optimizer step, gradScale = 1 / (label tokens of the whole step).
 * Returns Σ token losses.
 */
export function lossAndGrad(
  k: Kernels,
  model: Model,
  acts: Activations,
  input: ModelInput,
  gradScale: number,
  uniform: Uniform | null,
): number {
  if (!(gradScale > 0)) throw new Error("lossAndGrad: gradScale must be positive");
  const sum = forward(k, model, acts, input, { uniform, gradScale });
  backward(k, model, acts, input);
  return sum;
}
