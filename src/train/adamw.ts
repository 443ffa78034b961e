/**
 * AdamW with PyTorch semantics (decoupled weight decay, bias correction, step counted from 1) over a list of
 * trainable parameters; the per-element update is the `adamw` kernel.
 */
import type { Kernels } from "../kernels/types.ts";
import type { TrainableParam } from "../tensor/trainable.ts";

export interface AdamWOptions {
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
}

export const ADAMW_DEFAULTS: AdamWOptions = { beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0 };

export class AdamW {
  readonly m: Float32Array[];
  readonly v: Float32Array[];
  /** Completed optimizer steps. */
  step = 0;

  constructor(
    readonly params: TrainableParam[],
    readonly options: AdamWOptions = ADAMW_DEFAULTS,
  ) {
    this.m = params.map((p) => new Float32Array(p.data.length));
    this.v = params.map((p) => new Float32Array(p.data.length));
  }

  /** Applies one update with learning rate `lr` from the accumulated gradients. */
  update(k: Kernels, lr: number): void {
    this.step += 1;
    const { beta1, beta2, eps, weightDecay } = this.options;
    this.params.forEach((p, i) => {
      k.adamw(p.data, p.grad, this.m[i]!, this.v[i]!, p.data.length, lr, beta1, beta2, eps, weightDecay, this.step);
    });
  }
}

// The gradient norm and clipping that precede an update: grads.ts.
