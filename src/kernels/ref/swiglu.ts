/**
 * Reference SwiGLU activation: out = silu(gate) · up, silu(x) = x·σ(x), σ(x) = 1/(1+e^−x).
 * Backward (docs/backward.md): dup = dout·silu(gate), dgate = dout·up·σ(gate)·(1 + gate·(1 − σ(gate))).
 */

/** out[i] = silu(gate[i]) · up[i]. */
export function swigluForward(out: Float32Array, gate: Float32Array, up: Float32Array, n: number): void {
  for (let i = 0; i < n; i++) {
    const g = gate[i]!;
    out[i] = (g / (1 + Math.exp(-g))) * up[i]!;
  }
}

/** dgate, dup overwritten; dgate may alias gate and dup may alias up (each element is read before written). */
export function swigluBackward(
  dgate: Float32Array,
  dup: Float32Array,
  dout: Float32Array,
  gate: Float32Array,
  up: Float32Array,
  n: number,
): void {
  for (let i = 0; i < n; i++) {
    const g = gate[i]!;
    const u = up[i]!;
    const d = dout[i]!;
    const sig = 1 / (1 + Math.exp(-g));
    dgate[i] = d * u * sig * (1 + g * (1 - sig));
    dup[i] = d * g * sig;
  }
}
