/**
 * GeGLU, the gated MLP activation of Gemma: act = gelu_tanh(gate) ⊙ up (Hugging Face's "gelu_pytorch_tanh" on the
 * gate projection), forward and backward. The GELU and its derivative are nn/gelu.ts's. Plain TypeScript
 * (elementwise, O(N·F)).
 */
import { geluBackward, geluForward } from "./gelu.ts";

/** out[n] = gelu(gate[n]) · up[n]. `out` may alias `gate` (not `up`). */
export function gegluForward(out: Float32Array, gate: Float32Array, up: Float32Array, n: number): void {
  geluForward(out, gate, n);
  for (let i = 0; i < n; i++) out[i] = out[i]! * up[i]!;
}

/**
 * dgate[n] = dact · up · gelu'(gate), dup[n] = dact · gelu(gate) (both overwritten), from the forward's inputs.
 * `dgate` and `dup` must not alias `dact`, `gate` or `up`.
 */
export function gegluBackward(
  dgate: Float32Array,
  dup: Float32Array,
  dact: Float32Array,
  gate: Float32Array,
  up: Float32Array,
  n: number,
): void {
  geluForward(dup, gate, n);
  for (let i = 0; i < n; i++) {
    dup[i] = dup[i]! * dact[i]!;
    dgate[i] = dact[i]! * up[i]!;
  }
  geluBackward(dgate, dgate, gate, n);
}
