/**
 * The checks the reference kernels make on index inputs, made on the CPU when a batch is uploaded for the WebGPU
 * kernels (a shader cannot throw): position ids inside the RoPE tables, targets inside the vocabulary or −100.
 * The messages are the reference kernels' own.
 */
import { LoratuneError } from "../../errors.ts";
import { IGNORE_INDEX } from "../ref/cross-entropy.ts";

/** Throws unless every pos[n] (n < N) is in [0, maxPos) (ropeForward/ropeBackward would leave the row as it is). */
export function checkPositions(pos: Int32Array, N: number, maxPos: number): void {
  for (let n = 0; n < N; n++) {
    const p = pos[n]!;
    if (p < 0 || p >= maxPos) {
      throw new RangeError(`rope: position id pos[${n}] = ${p} is outside the RoPE tables [0, ${maxPos})`);
    }
  }
}

/** Throws unless every targets[n] (n < N) is in [0, V) or −100 (crossEntropy would count the row as ignored). */
export function checkTargets(targets: Int32Array, N: number, V: number): void {
  for (let n = 0; n < N; n++) {
    const t = targets[n]!;
    if (t !== IGNORE_INDEX && (t < 0 || t >= V)) {
      throw new LoratuneError(
        "ERR_DATA",
        `crossEntropy: target ${t} at row ${n} is outside the vocabulary [0, ${V}) and is not -100`,
      );
    }
  }
}
