/**
 * `--quantize q8_0|q4_k`: a safetensors base's linear weights quantized on load to one of ggml's block formats, kept
 * that way in memory (the kernels dequantize block by block inside the matmuls). Only the linear layers: the token
 * embedding and the LM head, norms and biases stay in the load dtype (f32 or bf16), as many GGUF quantization
 * schemes keep them wider. A weight's blocks run along its rows (in_features): a row that is not whole blocks of the
 * chosen format falls back, as llama.cpp's quantizer does — q4_k (256) falls back to q8_0 (32; llama.cpp would use
 * q5_0, which loratune lacks), and a row not a multiple of 32 stays in the load dtype. describeQuantization says
 * which weights went where.
 */
import type { Kernels } from "../kernels/types.ts";
import { type QuantizeChoice, valuesAsF32, weightFormat } from "../tensor/formats/index.ts";
import type { StorageDType, StoredTensor } from "../tensor/stored-tensor.ts";
import type { ParamSpec } from "./arch/spec.ts";
import type { Model } from "./model.ts";

/** The format a weight with rows of `inFeatures` values gets under `choice` (fallbacks as described above). */
export function quantizedFormatFor(choice: QuantizeChoice, inFeatures: number, loaded: StorageDType): StorageDType {
  for (const name of [choice, "q8_0"] as StorageDType[])
    if (inFeatures % weightFormat(name).blockValues === 0) return name;
  return loaded;
}

/**
 * The format the tensor of `spec` is held in under `choice` when it was read as `loaded`: a linear weight's block
 * format (with the fallbacks), anything else `loaded`. A linear stored transposed in the file (GPT-2's Conv1D) is
 * `loaded` here: it is quantized once assembled, in its memory layout (quantizeLinears).
 */
export function specQuantizedFormat(spec: ParamSpec, choice: QuantizeChoice, loaded: StorageDType): StorageDType {
  if (spec.role !== "linear" || spec.transposed || spec.shape.length !== 2) return loaded;
  return quantizedFormatFor(choice, spec.shape[1]!, loaded);
}

/** `t` (n values) in format `to`: itself when it already is, else a new tensor of the same shape. */
export function convertTensor(k: Kernels, t: StoredTensor, to: StorageDType): StoredTensor {
  if (t.dtype === to) return t;
  const n = t.shape.reduce((a, b) => a * b, 1);
  const data = weightFormat(to).alloc(n);
  k.weightFromF32(data, to, valuesAsF32(t.dtype, t.data, n), n);
  return { dtype: to, shape: t.shape, data };
}

/** Quantizes every float linear weight of the model in place (the StoredTensor objects the model shares are updated). */
export function quantizeLinears(k: Kernels, model: Model, choice: QuantizeChoice): void {
  for (const lin of model.linears) {
    const t = lin.weight;
    // A weight already in a block format (a quantized GGUF base) stays as stored: requantizing only loses more.
    if (weightFormat(t.dtype).quantized) continue;
    const to = quantizedFormatFor(choice, lin.inFeatures, t.dtype);
    if (to === t.dtype) continue;
    const n = lin.outFeatures * lin.inFeatures;
    const values = valuesAsF32(t.dtype, t.data, n);
    const data = weightFormat(to).alloc(n);
    k.weightFromF32(data, to, values, n);
    t.dtype = to;
    t.data = data;
  }
}

/** "q4_k: 24 weights, q8_0: 4 (rows of 704 values are not whole 256-value blocks)": where each linear weight went. */
export function describeQuantization(model: Model): string {
  const counts = new Map<string, number>();
  const odd = new Set<number>();
  for (const lin of model.linears) {
    counts.set(lin.weight.dtype, (counts.get(lin.weight.dtype) ?? 0) + 1);
    if (weightFormat(lin.weight.dtype).blockValues < 256) odd.add(lin.inFeatures);
  }
  const parts = [...counts].map(([f, c]) => `${f}: ${c} weight${c === 1 ? "" : "s"}`);
  return odd.size > 0 && counts.size > 1
    ? `${parts.join(", ")} (rows of ${[...odd].join(", ")} values are not whole 256-value blocks)`
    : parts.join(", ");
}
