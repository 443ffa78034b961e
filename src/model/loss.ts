/**
 * One forward (+ backward) over a batch: the unit the trainer and the evaluator call.
 * The loss of a batch is the mean over its label tokens (targets ≠ -100).
 * An arena that holds one sequence group (Activations.micro: checkpointing) takes a larger batch group by group:
 * each group's whole forward and backward before the next. Its gradients and Σ losses equal those of the batch
 * in one arena bit for bit (model/activations.ts says why).
 */
import type { Kernels } from "../kernels/types.ts";
import type { Uniform } from "../nn/linear.ts";
import type { Activations } from "./activations.ts";
import { backward } from "./backward.ts";
import { forward, type ModelInput } from "./forward.ts";
import { sequenceGroups, subInput } from "./groups.ts";
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
  let sum = 0;
  for (const [b0, sub] of batchParts(acts, input)) {
    const out = logitsOut?.subarray(b0 * input.T * model.config.vocabSize);
    sum += forward(k, model, acts, sub, { uniform: null, gradScale: 0, ...(out ? { logitsOut: out } : {}) });
  }
  return sum;
}

/** Wall-clock milliseconds spent in forward and in backward, added to by lossAndGrad (the bench's phases). */
export interface PhaseTimes {
  forward: number;
  backward: number;
}

/** The batch as the arena runs it: whole, or (Activations.micro) one sequence group at a time, as [b0, batch]. */
function batchParts(acts: Activations, input: ModelInput): [number, ModelInput][] {
  if (!acts.micro || input.B <= acts.B) return [[0, input]];
  if (input.B * input.T > acts.batchRows) {
    throw new Error(`batch of ${input.B}×${input.T} tokens exceeds the activation arena (${acts.batchRows})`);
  }
  return [...sequenceGroups(input.B, acts.B)].map(([b0, nb]) => [b0, subInput(input, b0, nb)]);
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
  times?: PhaseTimes,
): number {
  if (!(gradScale > 0)) throw new Error("lossAndGrad: gradScale must be positive");
  let sum = 0;
  for (const [, sub] of batchParts(acts, input)) {
    const t0 = performance.now();
    sum += forward(k, model, acts, sub, { uniform, gradScale });
    const t1 = performance.now();
    backward(k, model, acts, sub);
    if (times) {
      times.forward += t1 - t0;
      times.backward += performance.now() - t1;
    }
  }
  return sum;
}
