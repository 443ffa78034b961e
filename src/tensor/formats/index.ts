/**
 * The registry of weight formats: every way a base weight may be kept in memory, by name. Loading (`--dtype`,
 * `--quantize`), io's readers and writers, byte counts, merging and the kernels' weight entries (matmulWNT,
 * matmulWNN, embeddingWForward, weightToF32, weightFromF32) all go through these records; nothing else names a
 * format. Adding one: a file next to f32.ts and bf16.ts, a line below, and its routine in each backend.
 *
 * Two kinds: element formats (one value per element: f32, bf16, f16), the choices of `--dtype`, and quantized
 * block formats (q8_0, q4_0, q4_k, q5_k, q6_k; ggml's blocks), reached through `--quantize` or a GGUF file.
 */
import { BF16 } from "./bf16.ts";
import { F16 } from "./f16.ts";
import { F32 } from "./f32.ts";
import type { WeightData, WeightFormat } from "./format.ts";
import { Q4_0 } from "./q4_0.ts";
import { Q4_K } from "./q4_k.ts";
import { Q5_K } from "./q5_k.ts";
import { Q6_K } from "./q6_k.ts";
import { Q8_0 } from "./q8_0.ts";

export { BF16 } from "./bf16.ts";
export { F16 } from "./f16.ts";
export { F32 } from "./f32.ts";
export { formatBytes, formatLength, type WeightData, type WeightFormat } from "./format.ts";
export { Q4_0 } from "./q4_0.ts";
export { Q4_K } from "./q4_k.ts";
export { Q5_K } from "./q5_k.ts";
export { Q6_K } from "./q6_k.ts";
export { Q8_0 } from "./q8_0.ts";

/** Every format, by name. */
export const WEIGHT_FORMATS = {
  f32: F32,
  bf16: BF16,
  f16: F16,
  q8_0: Q8_0,
  q4_0: Q4_0,
  q4_k: Q4_K,
  q5_k: Q5_K,
  q6_k: Q6_K,
} as const satisfies Record<string, WeightFormat>;

/** The name of a weight format ("f32", "bf16", "q4_k", …): how a weight is kept in memory. */
export type StorageDType = keyof typeof WEIGHT_FORMATS;

/** Every format's name, in registry order. */
export const FORMAT_NAMES = Object.keys(WEIGHT_FORMATS) as StorageDType[];

/** The element formats' names (f32 first): the choices of `--dtype`. */
export const STORAGE_DTYPES = FORMAT_NAMES.filter((n) => !WEIGHT_FORMATS[n].quantized);

/** The quantized block formats' names. */
export const QUANTIZED_FORMATS = FORMAT_NAMES.filter((n) => WEIGHT_FORMATS[n].quantized);

/** The quantized formats a safetensors base may be quantized to on load (`--quantize`). */
export const QUANTIZE_CHOICES = ["q8_0", "q4_k"] as const satisfies readonly StorageDType[];
export type QuantizeChoice = (typeof QUANTIZE_CHOICES)[number];

/** The format named `name` (throws for a name the registry lacks). */
export function weightFormat(name: string): WeightFormat {
  const f = (WEIGHT_FORMATS as Record<string, WeightFormat>)[name];
  if (f === undefined) throw new Error(`unknown weight format "${name}" (known: ${FORMAT_NAMES.join(", ")})`);
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
