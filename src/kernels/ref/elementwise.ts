/** Reference elementwise kernels: residual adds, bias add and its backward (column sums). */
import { SLOT_ROW, scratch64 } from "./scratch.ts";

/** out[i] += a[i] for i < n. */
export function addInPlace(out: Float32Array, a: Float32Array, n: number): void {
  for (let i = 0; i < n; i++) out[i] = out[i]! + a[i]!;
}

/** out[M,N] += bias[N] on every row. */
export function addBias(out: Float32Array, bias: Float32Array, M: number, N: number): void {
  for (let m = 0; m < M; m++) {
    const o = m * N;
    for (let n = 0; n < N; n++) out[o + n] = out[o + n]! + bias[n]!;
  }
}

/** dbias[N] += Σ_m dout[m,:] (summed in f64, rows walked contiguously). */
export function biasBackward(dbias: Float32Array, dout: Float32Array, M: number, N: number): void {
  const acc = scratch64(SLOT_ROW, N);
  acc.fill(0, 0, N);
  for (let m = 0; m < M; m++) {
    const o = m * N;
    for (let n = 0; n < N; n++) acc[n] = acc[n]! + dout[o + n]!;
  }
  for (let n = 0; n < N; n++) dbias[n] = dbias[n]! + acc[n]!;
}
