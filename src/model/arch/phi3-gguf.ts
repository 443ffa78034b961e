/**
 * llama.cpp's view of Phi-3 / Phi-4-mini (its "phi3" architecture, as convert_hf_to_gguf.py's Phi3MiniModel writes
 * it): token_embd, blk.N.{attn_norm, attn_qkv, attn_output, ffn_norm, ffn_up, ffn_down}, output_norm, output. The
 * fused projections keep their rows: attn_qkv is q | k | v, ffn_up is gate | up (llama.cpp's SwiGLU splits it in
 * halves, silu of the first times the second); llama.cpp's phi3 graph rotates halves (NEOX RoPE), so no row is
 * reordered. Hyperparameters: phi3.context_length, rope.scaling.original_context_length, embedding_length,
 * feed_forward_length, block_count, attention.head_count / head_count_kv, attention.layer_norm_rms_epsilon,
 * rope.dimension_count (the rotated dims of a head: partial rotary), rope.freq_base, attention.sliding_window.
 * longrope: the rope_factors_long / rope_factors_short tensors [rotaryDim/2] and rope.scaling.attn_factor.
 *
 * What llama.cpp does differently (so a GGUF judged there matches loratune only inside these bounds): it picks
 * the long factors for the whole context when the context size is past the original length (transformers and
 * loratune: per batch, by the largest position), and it ignores phi3's sliding window (it attends to the whole
 * prefix).
 */
import { LoratuneError } from "../../errors.ts";
import { f32, type GgufValue, u32 } from "../../gguf/metadata.ts";
import type { ModelConfig } from "../config.ts";
import { f32Decimal, metaReader } from "./llama-gguf-config.ts";
import type { Phi3Arch } from "./phi3.ts";
import type { GgufExtraTensor, GgufModelView, GgufNaming } from "./spec.ts";

const ARCH = "phi3";
const ROPE_LONG = "rope_factors_long.weight";
const ROPE_SHORT = "rope_factors_short.weight";

const TOP: Record<string, string> = {
  "model.embed_tokens.weight": "token_embd.weight",
  "model.norm.weight": "output_norm.weight",
  "lm_head.weight": "output.weight",
};

const BLOCK: Record<string, string> = {
  input_layernorm: "attn_norm",
  post_attention_layernorm: "ffn_norm",
  "self_attn.qkv_proj": "attn_qkv",
  "self_attn.o_proj": "attn_output",
  "mlp.gate_up_proj": "ffn_up",
  "mlp.down_proj": "ffn_down",
};

const BLOCK_NAME = /^model\.layers\.(\d+)\.(.+)\.weight$/;
const GGUF_BLOCK_NAME = /^blk\.(0|[1-9]\d*)\.([a-z_]+)\.weight$/;
const TOP_HF = new Map(Object.entries(TOP).map(([hf, gg]) => [gg, hf]));
const BLOCK_HF = new Map(Object.entries(BLOCK).map(([hf, gg]) => [gg, hf]));

function tensorName(hf: string): string | null {
  if (TOP[hf] !== undefined) return TOP[hf];
  const m = BLOCK_NAME.exec(hf);
  const part = m ? BLOCK[m[2]!] : undefined;
  return m && part ? `blk.${m[1]}.${part}.weight` : null;
}

function hfTensorName(gguf: string): string | null {
  const top = TOP_HF.get(gguf);
  if (top !== undefined) return top;
  const m = GGUF_BLOCK_NAME.exec(gguf);
  const part = m ? BLOCK_HF.get(m[2]!) : undefined;
  return m && part ? `model.layers.${m[1]}.${part}.weight` : null;
}

function metadata(c: ModelConfig): [string, GgufValue][] {
  const a = c.arch as Phi3Arch;
  if (c.numHeads * c.headDim !== c.hiddenSize) {
    throw new LoratuneError(
      "ERR_UNSUPPORTED",
      `llama.cpp's phi3 architecture needs num_attention_heads × head_dim (${c.numHeads} × ${c.headDim}) = hidden_size (${c.hiddenSize}); this model cannot be exported for it`,
    );
  }
  const kv: [string, GgufValue][] = [
    [`${ARCH}.context_length`, u32(c.maxPositions)],
    [`${ARCH}.rope.scaling.original_context_length`, u32(a.longrope?.originalMaxPositions ?? c.maxPositions)],
    [`${ARCH}.embedding_length`, u32(c.hiddenSize)],
    [`${ARCH}.feed_forward_length`, u32(c.intermediateSize)],
    [`${ARCH}.block_count`, u32(c.numLayers)],
    [`${ARCH}.attention.head_count`, u32(c.numHeads)],
    [`${ARCH}.attention.head_count_kv`, u32(c.numKvHeads)],
    [`${ARCH}.attention.layer_norm_rms_epsilon`, f32(c.normEps)],
    [`${ARCH}.rope.dimension_count`, u32(a.rotaryDim)],
    [`${ARCH}.rope.freq_base`, f32(a.ropeTheta)],
    [`${ARCH}.attention.sliding_window`, u32(a.slidingWindow)],
    [`${ARCH}.vocab_size`, u32(c.vocabSize)],
  ];
  if (a.longrope !== null) kv.push([`${ARCH}.rope.scaling.attn_factor`, f32(a.longrope.attentionFactor)]);
  return kv;
}

/** longrope's factors as llama.cpp takes them: rope_factors_long and rope_factors_short, [rotaryDim/2] each. */
function extraTensors(c: ModelConfig): GgufExtraTensor[] {
  const l = (c.arch as Phi3Arch).longrope;
  if (l === null) return [];
  return [
    { name: ROPE_LONG, shape: [l.longFactor.length], values: Float32Array.from(l.longFactor) },
    { name: ROPE_SHORT, shape: [l.shortFactor.length], values: Float32Array.from(l.shortFactor) },
  ];
}

/** config.json of a phi3 GGUF file (the inverse of metadata and extraTensors). */
function configJson(view: GgufModelView): Record<string, unknown> {
  const read = metaReader(view.path, view.metadata);
  const embed = view.shape("token_embd.weight");
  if (embed?.length !== 2) {
    throw new LoratuneError("ERR_GGUF", `${view.path}: no 2-D token_embd.weight tensor (the token embedding)`);
  }
  const hidden = read.int(`${ARCH}.embedding_length`);
  const heads = read.int(`${ARCH}.attention.head_count`);
  const headDim = hidden / heads;
  const rotary = read.int(`${ARCH}.rope.dimension_count`, headDim);
  const partial = rotary / headDim;
  if (!Number.isInteger(headDim) || Math.floor(headDim * partial) !== rotary) {
    throw new LoratuneError(
      "ERR_UNSUPPORTED",
      `${view.path}: ${ARCH}.rope.dimension_count ${rotary} is no partial_rotary_factor of the head dimension ${hidden}/${heads}`,
    );
  }
  const maxPositions = read.int(`${ARCH}.context_length`);
  const window = read.int(`${ARCH}.attention.sliding_window`, 0);
  const eos = read.optInt("tokenizer.ggml.eos_token_id");
  const bos = read.optInt("tokenizer.ggml.bos_token_id");
  return {
    architectures: ["Phi3ForCausalLM"],
    model_type: "phi3",
    hidden_act: "silu",
    hidden_size: hidden,
    num_hidden_layers: read.int(`${ARCH}.block_count`),
    num_attention_heads: heads,
    num_key_value_heads: read.int(`${ARCH}.attention.head_count_kv`, heads),
    intermediate_size: read.int(`${ARCH}.feed_forward_length`),
    vocab_size: embed[0],
    max_position_embeddings: maxPositions,
    original_max_position_embeddings: read.int(`${ARCH}.rope.scaling.original_context_length`, maxPositions),
    partial_rotary_factor: partial,
    rms_norm_eps: read.float(`${ARCH}.attention.layer_norm_rms_epsilon`),
    rope_theta: read.float(`${ARCH}.rope.freq_base`, 10000),
    rope_scaling: longropeJson(view, read),
    ...(window > 0 ? { sliding_window: window } : {}),
    tie_word_embeddings: view.shape("output.weight") === undefined,
    ...(bos !== undefined ? { bos_token_id: bos } : {}),
    ...(eos !== undefined ? { eos_token_id: eos } : {}),
    torch_dtype: "float32",
  };
}

/** rope_scaling from rope_factors_long / rope_factors_short (both or neither) and rope.scaling.attn_factor. */
function longropeJson(view: GgufModelView, read: ReturnType<typeof metaReader>): Record<string, unknown> | null {
  const long = view.shape(ROPE_LONG) !== undefined;
  const short = view.shape(ROPE_SHORT) !== undefined;
  if (!long && !short) return null;
  if (long !== short) {
    throw new LoratuneError(
      "ERR_GGUF",
      `${view.path}: ${long ? ROPE_LONG : ROPE_SHORT} without ${long ? ROPE_SHORT : ROPE_LONG} (longrope needs both)`,
    );
  }
  const factors = (name: string) => Array.from(view.f32(name), f32Decimal);
  return {
    rope_type: "longrope",
    short_factor: factors(ROPE_SHORT),
    long_factor: factors(ROPE_LONG),
    attention_factor: read.float(`${ARCH}.rope.scaling.attn_factor`, 1),
  };
}

/** Where llama.cpp's phi3 graph computes otherwise than loratune for this config (see the file comment). */
function notes(c: ModelConfig): string[] {
  const a = c.arch as Phi3Arch;
  const out: string[] = [];
  if (a.slidingWindow > 0) {
    out.push(
      `llama.cpp ignores phi3's sliding_window (${a.slidingWindow}): its attention sees the whole context, so past ${a.slidingWindow} tokens it computes otherwise than loratune and transformers`,
    );
  }
  if (a.longrope !== null) {
    out.push(
      `llama.cpp picks longrope's long factors for every position when its context (padded to a multiple of 256) is longer than ${a.longrope.originalMaxPositions} tokens, the short ones otherwise; loratune and transformers pick by the sequence's positions`,
    );
  }
  return out;
}

export const phi3Gguf: GgufNaming = {
  arch: ARCH,
  tensorName,
  hfTensorName,
  permuteHeads: () => null,
  metadata,
  extraTensors,
  configJson,
  configTensors: [ROPE_LONG, ROPE_SHORT],
  notes,
};
