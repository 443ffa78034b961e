/**
 * Finite-difference checking of whole-model gradients (reference kernels): directional derivatives along random
 * unit directions over all trainable parameters, which is robust in f32.
 */
import assert from "node:assert/strict";
import { refKernels as k } from "../../src/kernels/ref/index.ts";
import { type ArenaOptions, allocateActivations } from "../../src/model/activations.ts";
import type { ModelInput } from "../../src/model/forward.ts";
import { countLabelTokens, evalLossSum, lossAndGrad } from "../../src/model/loss.ts";
import type { Model } from "../../src/model/model.ts";
import { Rng } from "../../src/tensor/rng.ts";
import { type TrainableParam, zeroGrads } from "../../src/tensor/trainable.ts";

export function meanLoss(model: Model, input: ModelInput): number {
  const acts = allocateActivations(model, input.B, input.T, { withGrad: false });
  return evalLossSum(k, model, acts, input) / countLabelTokens(input.targets);
}

/**
 * Compares ∇L·d with (L(θ+εd) − L(θ−εd)) / 2ε for a few random unit directions d over all params; ∇L from an arena
 * made with `arena` (checkpointing, row chunks).
 */
export function checkDirectional(
  model: Model,
  params: TrainableParam[],
  input: ModelInput,
  seed: number,
  arena: ArenaOptions = {},
): void {
  const acts = allocateActivations(model, input.B, input.T, { ...arena, withGrad: true });
  zeroGrads(params);
  lossAndGrad(k, model, acts, input, 1 / countLabelTokens(input.targets), null);
  const rng = new Rng(seed);
  for (let trial = 0; trial < 3; trial++) {
    const dirs = params.map((p) => Float32Array.from(p.grad, (g) => (trial === 0 ? g : rng.next() - 0.5)));
    let norm = 0;
    for (const d of dirs) for (const x of d) norm += x * x;
    norm = Math.sqrt(norm);
    let analytic = 0;
    params.forEach((p, i) => {
      const d = dirs[i]!;
      for (let j = 0; j < d.length; j++) analytic += (p.grad[j]! * d[j]!) / norm;
    });
    const eps = 3e-3;
    const shift = (sign: number) =>
      params.forEach((p, i) => {
        const d = dirs[i]!;
        for (let j = 0; j < d.length; j++) p.data[j]! += (sign * eps * d[j]!) / norm;
      });
    shift(1);
    const lp = meanLoss(model, input);
    shift(-2);
    const lm = meanLoss(model, input);
    shift(1);
    const numeric = (lp - lm) / (2 * eps);
    const tol = 2e-3 * Math.max(1, Math.abs(analytic)) + 2e-4;
    assert.ok(Math.abs(numeric - analytic) <= tol, `trial ${trial}: analytic ${analytic} vs numeric ${numeric}`);
  }
}
