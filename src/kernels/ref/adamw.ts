/**
 * Reference AdamW step with PyTorch's semantics (torch.optim.AdamW, single-tensor path):
 *   p ← p·(1 − lr·wd);  m ← β1·m + (1−β1)·g;  v ← β2·v + (1−β2)·g²;
 *   p ← p − (lr / (1−β1^t)) · m / (sqrt(v) / sqrt(1−β2^t) + eps),   t = step ≥ 1.
 * Scalars (bias corrections, step size) are computed in f64 as Python does; each element's arithmetic is f64 with
 * one f32 rounding per stored tensor (p after decay, m, v, p after the update), as PyTorch stores them.
 */

export function adamw(
  param: Float32Array,
  grad: Float32Array,
  m: Float32Array,
  v: Float32Array,
  n: number,
  lr: number,
  beta1: number,
  beta2: number,
  eps: number,
  weightDecay: number,
  step: number,
): void {
  if (!(step >= 1) || !Number.isInteger(step)) throw new RangeError(`adamw: step must be an integer ≥ 1 (got ${step})`);
  const decay = 1 - lr * weightDecay;
  const stepSize = lr / (1 - beta1 ** step);
  const bc2Sqrt = Math.sqrt(1 - beta2 ** step);
  for (let i = 0; i < n; i++) {
    const g = grad[i]!;
    const p = Math.fround(param[i]! * decay);
    const mi = Math.fround(beta1 * m[i]! + (1 - beta1) * g);
    const vi = Math.fround(beta2 * v[i]! + (1 - beta2) * g * g);
    m[i] = mi;
    v[i] = vi;
    param[i] = p - (stepSize * mi) / (Math.sqrt(vi) / bc2Sqrt + eps);
  }
}
