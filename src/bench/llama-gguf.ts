/**
 * The bench's random-weight model as a GGUF file for llama.cpp (the llama.cpp column): the same seeded weights in
 * the same held format (f32, bf16, or q8_0/q4_k linears), and a synthetic SentencePiece-style vocabulary of
 * placeholder pieces (the bench feeds token ids, never text), so llama.cpp decodes exactly the model loratune does.
 */
import { f32s, type GgufMetadata, i32s, str, strings, u32 } from "../gguf/metadata.ts";
import { ggufOuttype } from "../gguf/outtype.ts";
import { writeGguf } from "../gguf/writer.ts";
import type { Kernels } from "../kernels/types.ts";
import { modelGgufMetadata, modelGgufTensors } from "../model/gguf-tensors.ts";
import type { StorageDType } from "../tensor/stored-tensor.ts";
import { makeRandomModel } from "./random-model.ts";
import { shapeConfig } from "./shapes.ts";

/** The 256 byte pieces <0x00>…<0xFF> a SentencePiece vocabulary has (llama.cpp looks up <0x0A> when loading). */
const BYTE_PIECES = 256;

/**
 * tokenizer.ggml.* for `n` placeholder tokens (n ≥ 259): <unk>, <s>, </s>, the byte pieces, then "t259", … with
 * SentencePiece token types (2 unknown, 3 control, 6 byte, 1 normal).
 */
function placeholderVocab(n: number): [string, ReturnType<typeof str>][] {
  if (n < 3 + BYTE_PIECES) throw new Error(`a placeholder vocabulary needs at least 259 tokens, not ${n}`);
  const special = ["<unk>", "<s>", "</s>"];
  const piece = (i: number): string => {
    if (i < 3) return special[i]!;
    if (i < 3 + BYTE_PIECES) return `<0x${(i - 3).toString(16).toUpperCase().padStart(2, "0")}>`;
    return `t${i}`;
  };
  const tokens = Array.from({ length: n }, (_, i) => piece(i));
  const types = tokens.map((_, i) => (i === 0 ? 2 : i < 3 ? 3 : i < 3 + BYTE_PIECES ? 6 : 1));
  return [
    ["tokenizer.ggml.model", str("llama")],
    ["tokenizer.ggml.pre", str("default")],
    ["tokenizer.ggml.tokens", strings(tokens)],
    ["tokenizer.ggml.scores", f32s(tokens.map(() => 0))],
    ["tokenizer.ggml.token_type", i32s(types)],
    ["tokenizer.ggml.unknown_token_id", u32(0)],
    ["tokenizer.ggml.bos_token_id", u32(1)],
    ["tokenizer.ggml.eos_token_id", u32(2)],
  ];
}

/** Writes the shape's random model (seed as the bench's workloads use) with weights in `dtype` to `path`. */
export function writeBenchGguf(k: Kernels, shape: string, dtype: StorageDType, seed: number, path: string): void {
  const config = shapeConfig(shape);
  const model = makeRandomModel(k, config, dtype, seed);
  const outtype = ggufOuttype(dtype);
  const meta: GgufMetadata = new Map([
    ...modelGgufMetadata(model, `loratune bench ${shape}`, outtype),
    ...placeholderVocab(config.vocabSize),
  ]);
  writeGguf(path, meta, modelGgufTensors(model, outtype).tensors);
}
