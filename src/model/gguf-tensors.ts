/**
 * A model's weights as GGUF tensors for llama.cpp, produced one at a time while the file is written: each tensor
 * is widened to f32 (no copy when it already is), reordered per head where the family's llama.cpp graph expects
 * it (q/k rows of llama), shifted where the family's converter shifts it (Gemma's norms: 1 + w), and encoded in
 * the output type; only that one tensor's converted copy exists at once. A
 * tensor already held in the type it is written in (a GGUF base's blocks, a bf16 model written as bf16) is written
 * as its own bytes, rows reordered whole.
 * 2-D weights take the output type (rows that are not whole blocks of it fall back: K-quants to Q8_0, then F16, as
 * llama.cpp's quantizer falls back to a smaller block); 1-D tensors (norms, biases) are always F32. With a block
 * output type, a 2-D weight already held in another block format (a GGUF base's Q6_K tensors in a Q4_K_M file, its
 * Q8_0 fallback rows; not one an adapter was merged into, which is f32) is written in its own format, as stored:
 * quantizing it again would add a second rounding to the first.
 */
import { LoratuneError } from "../errors.ts";
import { type GgufValue, str, u32 } from "../gguf/metadata.ts";
import { encodeValues, type GgufOuttype } from "../gguf/outtype.ts";
import type { GgufTensorOut } from "../gguf/writer.ts";
import {
  formatBytes,
  valuesAsF32,
  WEIGHT_FORMATS,
  type WeightData,
  type WeightFormat,
} from "../tensor/formats/index.ts";
import { permuteHeadRows, permuteRowsInto } from "./arch/llama-gguf.ts";
import type { GgufNaming, ModelFamily } from "./arch/spec.ts";
import type { Model } from "./model.ts";

/** The family's llama.cpp naming; ERR_UNSUPPORTED naming the family when llama.cpp has no architecture for it. */
export function ggufNamingOf(model: Model): GgufNaming {
  return ggufNamingFor(model.family, model.config.modelType);
}

/** The llama.cpp naming of `family`, read for `modelType`; ERR_UNSUPPORTED when it has none. */
export function ggufNamingFor(family: ModelFamily, modelType: string): GgufNaming {
  if (family.gguf === undefined) {
    throw new LoratuneError(
      "ERR_UNSUPPORTED",
      `the ${family.name} family (model_type ${modelType}) has no llama.cpp architecture; it cannot be exported to GGUF`,
    );
  }
  return family.gguf;
}

/** general.* and the family's hyperparameters. */
export function modelGgufMetadata(model: Model, name: string, outtype: GgufOuttype): [string, GgufValue][] {
  const naming = ggufNamingOf(model);
  return [
    ["general.architecture", str(naming.arch)],
    ["general.name", str(name)],
    ["general.file_type", u32(outtype.fileType)],
    ...(outtype.format.blockValues > 1 ? [["general.quantization_version", u32(2)] as [string, GgufValue]] : []),
    ...naming.metadata(model.config),
  ];
}

/**
 * The format a 2-D tensor with rows of `row` values is written in: the output type's, else (rows not whole blocks
 * of it) Q8_0 for a K-quant whose rows are whole 32-value blocks (what `--quantize` falls back to as well), else F16.
 */
export function ggufFormatFor(outtype: GgufOuttype, row: number): WeightFormat {
  const f16 = (WEIGHT_FORMATS as Record<string, WeightFormat>).f16 ?? WEIGHT_FORMATS.f32;
  const q8 = WEIGHT_FORMATS.q8_0;
  const choices = outtype.format.blockValues > q8.blockValues ? [outtype.format, q8, f16] : [outtype.format, f16];
  return choices.find((f) => row % f.blockValues === 0) ?? WEIGHT_FORMATS.f32;
}

export interface GgufModelTensors {
  tensors: GgufTensorOut[];
  /**
   * 2-D tensors written in another type than the output type: "name (type)", for rows that are not whole blocks
   * and for block-format tensors kept as stored (also listed in `kept`).
   */
  fallbacks: string[];
  /** Names of the 2-D tensors kept in the block format they were held in (see the file comment). */
  kept: string[];
}

/** The block format a weight is held in, or undefined for an element format (f32, bf16, f16). */
function heldBlockFormat(dtype: string): WeightFormat | undefined {
  const f = (WEIGHT_FORMATS as Record<string, WeightFormat>)[dtype];
  return f?.quantized ? f : undefined;
}

/** The model's tensors (and the family's extra ones) to stream into a GGUF file. */
export function modelGgufTensors(model: Model, outtype: GgufOuttype): GgufModelTensors {
  const naming = ggufNamingOf(model);
  const tensors: GgufTensorOut[] = [];
  const fallbacks: string[] = [];
  const kept: string[] = [];
  for (const extra of naming.extraTensors(model.config)) {
    tensors.push({
      name: extra.name,
      shape: extra.shape,
      type: WEIGHT_FORMATS.f32.id,
      data: () => f32Bytes(extra.values),
    });
  }
  for (const spec of model.specs) {
    const name = naming.tensorName(spec.name);
    if (name === null) {
      throw new LoratuneError(
        "ERR_UNSUPPORTED",
        `tensor ${spec.name} has no name in llama.cpp's ${naming.arch} architecture`,
      );
    }
    const t = model.tensors.get(spec.name)!;
    const held = t.shape.length > 1 && outtype.format.quantized ? heldBlockFormat(t.dtype) : undefined;
    const format = t.shape.length === 1 ? WEIGHT_FORMATS.f32 : (held ?? ggufFormatFor(outtype, t.shape.at(-1)!));
    if (t.shape.length > 1 && format !== outtype.format) fallbacks.push(`${name} (${format.name})`);
    if (held !== undefined && held !== outtype.format) kept.push(name);
    const heads = naming.permuteHeads(spec.name, model.config);
    const shift = t.shape.length === 1 ? (naming.valueShift?.(spec.name) ?? 0) : 0;
    tensors.push({
      name,
      shape: t.shape,
      type: format.id,
      data: () => {
        const n = t.shape.reduce((a, b) => a * b, 1);
        if (t.dtype === format.name && shift === 0)
          return storedBytes(t.data, heads, formatBytes(format, n / t.shape[0]!));
        let values = valuesAsF32(t.dtype, t.data, n);
        if (heads !== null) values = permuteHeadRows(values, heads, n / t.shape[0]!);
        if (shift !== 0) values = values.map((v) => v + shift);
        return format === WEIGHT_FORMATS.f32 ? f32Bytes(values) : encodeValues(format, values);
      },
    });
  }
  return { tensors, fallbacks, kept };
}

/**
 * A tensor already in the format it is written in, as its own bytes (rows of `rowBytes` reordered per head when
 * `heads` is set): a GGUF base's blocks go back out unchanged, never dequantized and quantized again.
 */
function storedBytes(data: WeightData, heads: number | null, rowBytes: number): Uint8Array {
  const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  if (heads === null) return bytes;
  const out = new Uint8Array(bytes.length);
  permuteRowsInto(out, bytes, heads, rowBytes);
  return out;
}

function f32Bytes(values: Float32Array): Uint8Array {
  return new Uint8Array(values.buffer, values.byteOffset, values.byteLength);
}
