/**
 * llama.cpp's view of GPT-2 (its "gpt2" architecture, as convert_hf_to_gguf.py writes it): token_embd,
 * position_embd, blk.N.{attn_norm, attn_qkv, attn_output, ffn_norm, ffn_up, ffn_down} (weights and biases),
 * output_norm; the head is token_embd (tied). The Conv1D weights are written [out, in] as in memory (the converter
 * transposes them too), and no rows are reordered (no RoPE). Hyperparameters: gpt2.context_length,
 * embedding_length, feed_forward_length, block_count, attention.head_count, attention.layer_norm_epsilon.
 */
import { LoratuneError } from "../../errors.ts";
import { f32, type GgufValue, u32 } from "../../gguf/metadata.ts";
import type { ModelConfig } from "../config.ts";
import { metaReader } from "./llama-gguf-config.ts";
import type { GgufModelView, GgufNaming } from "./spec.ts";

const ARCH = "gpt2";

const TOP: Record<string, string> = {
  "transformer.wte.weight": "token_embd.weight",
  "transformer.wpe.weight": "position_embd.weight",
  "transformer.ln_f.weight": "output_norm.weight",
  "transformer.ln_f.bias": "output_norm.bias",
};

const BLOCK: Record<string, string> = {
  ln_1: "attn_norm",
  "attn.c_attn": "attn_qkv",
  "attn.c_proj": "attn_output",
  ln_2: "ffn_norm",
  "mlp.c_fc": "ffn_up",
  "mlp.c_proj": "ffn_down",
};

const BLOCK_NAME = /^transformer\.h\.(\d+)\.(.+)\.(weight|bias)$/;
const GGUF_BLOCK_NAME = /^blk\.(0|[1-9]\d*)\.([a-z_]+)\.(weight|bias)$/;
const TOP_HF = new Map(Object.entries(TOP).map(([hf, gg]) => [gg, hf]));
const BLOCK_HF = new Map(Object.entries(BLOCK).map(([hf, gg]) => [gg, hf]));

function tensorName(hf: string): string | null {
  if (TOP[hf] !== undefined) return TOP[hf];
  const m = BLOCK_NAME.exec(hf);
  const part = m ? BLOCK[m[2]!] : undefined;
  return m && part ? `blk.${m[1]}.${part}.${m[3]}` : null;
}

function hfTensorName(gguf: string): string | null {
  const top = TOP_HF.get(gguf);
  if (top !== undefined) return top;
  const m = GGUF_BLOCK_NAME.exec(gguf);
  const part = m ? BLOCK_HF.get(m[2]!) : undefined;
  return m && part ? `transformer.h.${m[1]}.${part}.${m[3]}` : null;
}

function metadata(c: ModelConfig): [string, GgufValue][] {
  return [
    [`${ARCH}.context_length`, u32(c.maxPositions)],
    [`${ARCH}.embedding_length`, u32(c.hiddenSize)],
    [`${ARCH}.feed_forward_length`, u32(c.intermediateSize)],
    [`${ARCH}.block_count`, u32(c.numLayers)],
    [`${ARCH}.attention.head_count`, u32(c.numHeads)],
    [`${ARCH}.attention.layer_norm_epsilon`, f32(c.normEps)],
    [`${ARCH}.vocab_size`, u32(c.vocabSize)],
  ];
}

/** config.json of a gpt2 GGUF file (the inverse of metadata; vocab_size from token_embd's rows). */
function configJson(view: GgufModelView): Record<string, unknown> {
  const read = metaReader(view.path, view.metadata);
  const embed = view.shape("token_embd.weight");
  if (embed?.length !== 2) {
    throw new LoratuneError("ERR_GGUF", `${view.path}: no 2-D token_embd.weight tensor (the token embedding)`);
  }
  if (view.shape("output.weight") !== undefined) {
    throw new LoratuneError(
      "ERR_UNSUPPORTED",
      `${view.path}: an output.weight apart from token_embd (an untied GPT-2 head) is not supported`,
    );
  }
  const eos = read.optInt("tokenizer.ggml.eos_token_id");
  const bos = read.optInt("tokenizer.ggml.bos_token_id");
  return {
    architectures: ["GPT2LMHeadModel"],
    model_type: "gpt2",
    activation_function: "gelu_new",
    n_embd: read.int(`${ARCH}.embedding_length`),
    n_layer: read.int(`${ARCH}.block_count`),
    n_head: read.int(`${ARCH}.attention.head_count`),
    n_inner: read.int(`${ARCH}.feed_forward_length`),
    n_positions: read.int(`${ARCH}.context_length`),
    layer_norm_epsilon: read.float(`${ARCH}.attention.layer_norm_epsilon`),
    vocab_size: embed[0],
    tie_word_embeddings: true,
    ...(bos !== undefined ? { bos_token_id: bos } : {}),
    ...(eos !== undefined ? { eos_token_id: eos } : {}),
    torch_dtype: "float32",
  };
}

export const gpt2Gguf: GgufNaming = {
  arch: ARCH,
  tensorName,
  hfTensorName,
  permuteHeads: () => null,
  metadata,
  extraTensors: () => [],
  configJson,
  configTensors: [],
};
