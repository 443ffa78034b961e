/**
 * GELU, tanh approximation (Hugging Face's "gelu_new", "gelu_pytorch_tanh"; GPT-2's MLP), forward and backward:
 *   gelu(x) = 0.5 · x · (1 + tanh(u)),   u = √(2/π) · (x + 0.044715 · x³).
 * Plain TypeScript (elementwise, O(N·F)).
 */

const K = Math.sqrt(2 / Math.PI);
const A = 0.044715;

/** out[n] = gelu(x[n]). `out` may alias `x`. */
export function geluForward(out: Float32Array, x: Float32Array, n: number): void {
  for (let i = 0; i < n; i++) {
    const v = x[i]!;
    out[i] = 0.5 * v * (1 + Math.tanh(K * (v + A * v * v * v)));
  }
}

/**
 * dx[n] = dout[n] · gelu'(x[n]) (overwritten), from the forward's input x:
 *   gelu'(x) = 0.5 · (1 + t) + 0.5 · x · (1 − t²) · √(2/π) · (1 + 3 · 0.044715 · x²),   t = tanh(u).
 * `dx` may alias `dout`.
 */
export function geluBackward(dx: Float32Array, dout: Float32Array, x: Float32Array, n: number): void {
  for (let i = 0; i < n; i++) {
    const v = x[i]!;
    const t = Math.tanh(K * (v + A * v * v * v));
    const d = 0.5 * (1 + t) + 0.5 * v * (1 - t * t) * K * (1 + 3 * A * v * v);
    dx[i] = dout[i]! * d;
  }
}
