/**
 * The registry of weight formats: every way a base weight may be kept in memory, by name. Loading (`--dtype`),
 * io's readers and writers, byte counts, merging and the kernels' weight entries (matmulWNT, matmulWNN,
 * embeddingWForward, weightToF32, weightFromF32) all go through these records; nothing else names a format.
 * Adding one: a file next to f32.ts and bf16.ts, a line below, and its routine in each backend.
 */
import { BF16 } from "./bf16.ts";
import { F32 } from "./f32.ts";
import type { WeightData, WeightFormat } from "./format.ts";

export { BF16 } from "./bf16.ts";
export { F32 } from "./f32.ts";
export { formatBytes, formatLength, type WeightData, type WeightFormat } from "./format.ts";

/** Every format, by name. */
export const WEIGHT_FORMATS = { f32: F32, bf16: BF16 } as const satisfies Record<string, WeightFormat>;

/** The name of a weight format ("f32", "bf16"): how a weight is kept in memory. */
export type StorageDType = keyof typeof WEIGHT_FORMATS;

/** Every format's name, in registry order (f32 first): the choices of `--dtype`. */
export const STORAGE_DTYPES = Object.keys(WEIGHT_FORMATS) as StorageDType[];

/** The format named `name` (throws for a name the registry lacks). */
export function weightFormat(name: string): WeightFormat {
  const f = (WEIGHT_FORMATS as Record<string, WeightFormat>)[name];
  if (f === undefined) throw new Error(`unknown weight format "${name}" (known: ${STORAGE_DTYPES.join(", ")})`);
  return f;
}

/** The format whose native id (ggml type) is `id`, or undefined. */
export function formatById(id: number): WeightFormat | undefined {
  return Object.values(WEIGHT_FORMATS).find((f) => f.id === id);
}

/** The values of n elements of `data` stored as `name`, widened to f32 (the data itself when it is f32). */
export function valuesAsF32(name: string, data: WeightData, n: number): Float32Array {
  const format = weightFormat(name);
  if (format === F32) return data as Float32Array;
  const out = new Float32Array(n);
  format.toF32(out, data, 0, n);
  return out;
}
