/**
 * Logit soft-capping (Gemma 2's final_logit_softcapping): z = c·tanh(x / c), forward in place and its backward from
 * the capped values (dz/dx = 1 − (z/c)²). Plain TypeScript, elementwise.
 */

/** x[n] = c·tanh(x[n] / c) in place. */
export function softcapForward(x: Float32Array, n: number, c: number): void {
  for (let i = 0; i < n; i++) x[i] = c * Math.tanh(x[i]! / c);
}

/** dx[n] *= 1 − (z[n]/c)² in place, z the forward's capped output. */
export function softcapBackward(dx: Float32Array, z: Float32Array, n: number, c: number): void {
  for (let i = 0; i < n; i++) {
    const u = z[i]! / c;
    dx[i] = dx[i]! * (1 - u * u);
  }
}
