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
    /** Per parameter, the multiple of the step's lr it learns at (LoRA+); all 1 when absent. */
    readonly lrScales: readonly number[] | null = null,
  ) {
    this.m = params.map((p) => new Float32Array(p.data.length));
    this.v = params.map((p) => new Float32Array(p.data.length));
  }

  /** Applies one update with learning rate `lr` from the accumulated gradients. */
  update(k: Kernels, lr: number): void {
    this.step += 1;
    const { beta1, beta2, eps, weightDecay } = this.options;
    this.params.forEach((p, i) => {
      const pLr = lr * (this.lrScales?.[i] ?? 1);
      k.adamw(p.data, p.grad, this.m[i]!, this.v[i]!, p.data.length, pLr, beta1, beta2, eps, weightDecay, this.step);
    });
  }
}

/**
 * LoRA+ (Hayou et al. 2024) as PEFT's create_loraplus_optimizer groups parameters: lora_B tensors, and any other
 * 1-D trainable tensor (DoRA's lora_magnitude_vector, biases), learn at `ratio` × lr; the rest (lora_A) at lr.
 * Weight decay is AdamW's for every group (PEFT exempts only names its Trainer excludes from decay: biases and
 * norms, which a LoRA run does not train). Null (every scale 1) when `ratio` is 0 (off) or 1.
 */
export function loraPlusLrScales(params: readonly TrainableParam[], ratio: number): number[] | null {
  if (ratio === 0 || ratio === 1) return null;
  return params.map((p) => (/(^|\.)lora_B(\.|$)/.test(p.name) || p.shape.length === 1 ? ratio : 1));
}

// The gradient norm and clipping that precede an update: grads.ts.
