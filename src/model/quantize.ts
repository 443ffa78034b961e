/**
 * `--quantize q8_0|q4_k`: a safetensors base's linear weights, token embedding and LM head quantized on load to
 * ggml's block formats, kept that way in memory (the kernels dequantize block by block inside the matmuls and the
 * embedding lookup decodes only the rows it needs). Norms and biases stay f32. The formats follow llama.cpp's
 * quantizer (llama_tensor_get_type) for its Q8_0 and Q4_K_M files:
 * - a linear weight and an untied token embedding get the chosen format;
 * - the output head, and the token embedding when the head is tied to it, get q8_0 under q8_0 and q6_k otherwise
 *   (the head is the weight most sensitive to rounding; a Q4_K_M file keeps it at 6.56 bits per value).
 * A weight's blocks run along its rows (in_features): a row that is not whole blocks of its format falls back, as
 * llama.cpp's quantizer does — q4_k/q6_k (256) fall back to q8_0 (32; llama.cpp would use q5_0 for a linear, which
 * loratune lacks), and a row not a multiple of 32 stays in the load dtype. describeQuantization says which weights
 * went where.
 */
import type { Kernels } from "../kernels/types.ts";
import { type QuantizeChoice, valuesAsF32, weightFormat } from "../tensor/formats/index.ts";
import type { StorageDType, StoredTensor } from "../tensor/stored-tensor.ts";
import type { ParamSpec } from "./arch/spec.ts";
import type { Model } from "./model.ts";

/** `format` for rows of `inFeatures` values, else q8_0, else `loaded` (the fallbacks described above). */
function fitFormat(format: StorageDType, inFeatures: number, loaded: StorageDType): StorageDType {
  for (const name of [format, "q8_0"] as StorageDType[])
    if (inFeatures % weightFormat(name).blockValues === 0) return name;
  return loaded;
}

/** The format a weight with rows of `inFeatures` values gets under `choice` (fallbacks as described above). */
export function quantizedFormatFor(choice: QuantizeChoice, inFeatures: number, loaded: StorageDType): StorageDType {
  return fitFormat(choice, inFeatures, loaded);
}

/** The format the output head (or the embedding tied to it) gets under `choice`: q8_0 under q8_0, else q6_k. */
export function headFormatFor(choice: QuantizeChoice, inFeatures: number, loaded: StorageDType): StorageDType {
  return fitFormat(choice === "q8_0" ? "q8_0" : "q6_k", inFeatures, loaded);
}

/**
 * The format the tensor of `spec` is held in under `choice` when it was read as `loaded`: a linear weight's or an
 * untied embedding's block format, the head's (or tied embedding's) headFormatFor, anything else `loaded`. A
 * weight stored transposed in the file (GPT-2's Conv1D) is `loaded` here: it is quantized once assembled, in its
 * memory layout (quantizeLinears).
 */
export function specQuantizedFormat(spec: ParamSpec, choice: QuantizeChoice, loaded: StorageDType): StorageDType {
  if (spec.transposed || spec.shape.length !== 2) return loaded;
  const inFeatures = spec.shape[1]!;
  if (spec.role === "head" || (spec.role === "embedding" && spec.tiedHead === true))
    return headFormatFor(choice, inFeatures, loaded);
  if (spec.role === "linear" || spec.role === "embedding") return quantizedFormatFor(choice, inFeatures, loaded);
  return loaded;
}

/** `t` (n values) in format `to`: itself when it already is, else a new tensor of the same shape. */
export function convertTensor(k: Kernels, t: StoredTensor, to: StorageDType): StoredTensor {
  if (t.dtype === to) return t;
  const n = t.shape.reduce((a, b) => a * b, 1);
  const data = weightFormat(to).alloc(n);
  k.weightFromF32(data, to, valuesAsF32(t.dtype, t.data, n), n);
  return { dtype: to, shape: t.shape, data };
}

/** Encodes the float tensor `t` ([rows, cols]) as `to` in place (the StoredTensor objects the model shares see it). */
function quantizeInPlace(k: Kernels, t: StoredTensor, to: StorageDType): void {
  if (to === t.dtype) return;
  const n = t.shape.reduce((a, b) => a * b, 1);
  const values = valuesAsF32(t.dtype, t.data, n);
  const data = weightFormat(to).alloc(n);
  k.weightFromF32(data, to, values, n);
  t.dtype = to;
  t.data = data;
}

/**
 * Quantizes every float linear weight, the token embedding and the LM head of the model in place, each to the
 * format specQuantizedFormat names. A weight already in a block format (a quantized GGUF base) stays as stored:
 * requantizing only loses more.
 */
export function quantizeLinears(k: Kernels, model: Model, choice: QuantizeChoice): void {
  const fresh = (t: StoredTensor) => !weightFormat(t.dtype).quantized;
  for (const lin of model.linears)
    if (fresh(lin.weight)) quantizeInPlace(k, lin.weight, quantizedFormatFor(choice, lin.inFeatures, lin.weight.dtype));
  const C = model.config.hiddenSize;
  const tied = model.lmHead === model.embed;
  if (fresh(model.lmHead)) quantizeInPlace(k, model.lmHead, headFormatFor(choice, C, model.lmHead.dtype));
  if (!tied && fresh(model.embed)) quantizeInPlace(k, model.embed, quantizedFormatFor(choice, C, model.embed.dtype));
}

/**
 * "q4_k: 24 weights, q8_0: 4 weights (rows of 704 values are not whole 256-value blocks); head: q6_k": where each
 * linear weight went, then the head ("embedding and head" when tied; an untied embedding is named on its own).
 */
export function describeQuantization(model: Model): string {
  const tied = model.lmHead === model.embed;
  const outside = tied
    ? `embedding and head: ${model.embed.dtype}`
    : `embedding: ${model.embed.dtype}, head: ${model.lmHead.dtype}`;
  return `${describeLinears(model)}; ${outside}`;
}

/** The linear part of describeQuantization. */
function describeLinears(model: Model): string {
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
