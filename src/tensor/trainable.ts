/**
 * A trainable f32 tensor with its gradient, named as it is saved (a PEFT key for LoRA, the Hugging Face name for
 * full fine-tuning). The optimizer, checkpoints and adapter writers walk flat lists of these.
 */
export interface TrainableParam {
  name: string;
  shape: number[];
  data: Float32Array;
  grad: Float32Array;
}

/**
 * Zeroes every gradient on the host (tests use it). The trainer zeroes through the kernels instead
 * (train/grads.ts), so that a backend owning its memory does it.
 */
export function zeroGrads(params: TrainableParam[]): void {
  for (const p of params) p.grad.fill(0);
}
