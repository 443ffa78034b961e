/**
 * The output types of a GGUF export (`--outtype`): which weight format the 2-D weights are written in, and the
 * general.file_type llama.cpp records for it (llama_ftype: 0 all F32, 1 mostly F16, 2 mostly Q4_0, 7 mostly Q8_0,
 * 14 mostly Q4_K_S, 16 mostly Q5_K_S, 18 mostly Q6_K, 32 mostly BF16; loratune writes every 2-D weight in the one
 * type, so a K-quant export is the "_S" mix's file type, not llama.cpp's per-tensor "_M" mix). Values are encoded by the weight-format registry (tensor/formats), whose ids are ggml's type ids; an
 * output type is offered only when its format is registered. 1-D tensors (norms, biases) are always F32.
 */
import { LoratuneError } from "../errors.ts";
import { WEIGHT_FORMATS, type WeightFormat, weightFormat } from "../tensor/formats/index.ts";

const FILE_TYPES: Record<string, number> = { f32: 0, f16: 1, q4_0: 2, q8_0: 7, q4_k: 14, q5_k: 16, q6_k: 18, bf16: 32 };

/** Every output type loratune knows, in help order. */
export const GGUF_OUTTYPES = ["f32", "f16", "bf16", "q8_0", "q4_0", "q4_k", "q5_k", "q6_k"] as const;

/** The output types whose formats are registered. */
export function availableOuttypes(): string[] {
  return GGUF_OUTTYPES.filter((t) => Object.hasOwn(WEIGHT_FORMATS, t));
}

export interface GgufOuttype {
  name: string;
  format: WeightFormat;
  fileType: number;
}

/** The output type `name`; ERR_USAGE naming the choices otherwise. */
export function ggufOuttype(name: string): GgufOuttype {
  if (!availableOuttypes().includes(name)) {
    throw new LoratuneError(
      "ERR_USAGE",
      `--outtype ${JSON.stringify(name)} is not an output type loratune writes (choose from: ${availableOuttypes().join(", ")})`,
    );
  }
  return { name, format: weightFormat(name), fileType: FILE_TYPES[name]! };
}

/** n f32 values encoded as `format`, as bytes (one tensor's worth; the caller writes and drops it). */
export function encodeValues(format: WeightFormat, values: Float32Array): Uint8Array {
  const data = format.alloc(values.length);
  format.fromF32(data, 0, values, values.length);
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}
