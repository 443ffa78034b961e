/**
 * Token embedding lookup over a table in any weight format, and its backward (rows of dx added into the table's
 * gradient).
 */
import type { Kernels } from "../kernels/types.ts";
import type { StoredTensor } from "../tensor/stored-tensor.ts";

/** out[N, C] = table[ids[i]] for each of the N ids; table [V, C]. */
export function embeddingForward(
  k: Kernels,
  out: Float32Array,
  ids: Int32Array,
  table: StoredTensor,
  N: number,
  C: number,
): void {
  k.embeddingWForward(out, ids, table.data, table.dtype, N, C);
}

/** dTable[ids[i]] += dx[i] for each of the N rows (dTable [V, C]). */
export function embeddingBackward(
  k: Kernels,
  dTable: Float32Array,
  dx: Float32Array,
  ids: Int32Array,
  N: number,
  C: number,
): void {
  k.embeddingBackward(dTable, dx, ids, N, C);
}
