/**
 * A Llama-style GGUF file's hyperparameters as the Hugging Face config.json they came from (the inverse of
 * llama-gguf.ts's metadata and rope_freqs), which the family's config parser then reads like any config.json:
 *  - sizes from `${arch}.*` keys (context_length, embedding_length, block_count, feed_forward_length,
 *    attention.head_count / head_count_kv / key_length, rope.freq_base, attention.layer_norm_rms_epsilon);
 *  - vocab_size from token_embd's rows, tie_word_embeddings when there is no output.weight, attention_bias when
 *    block 0's attn_q has a bias;
 *  - rope_scaling: "linear" from rope.scaling.type/factor, Llama 3's from the rope_freqs tensor (recovered exactly or
 *    refused naming it);
 *  - bos/eos ids from tokenizer.ggml.*.
 * f32 values (epsilon, theta, factors) are written as the shortest decimal that rounds to the same f32 (1e-5, not
 * 9.999999747378752e-6), which is what the converter read from config.json.
 */
import { LoratuneError } from "../../errors.ts";
import { type GgufMetadata, numberOf, stringOf } from "../../gguf/metadata.ts";
import { llama3ScalingFromFactors } from "../../nn/rope-recover.ts";
import type { GgufModelView } from "./spec.ts";

const ARCHITECTURES: Record<string, string> = {
  llama: "LlamaForCausalLM",
  mistral: "MistralForCausalLM",
  qwen2: "Qwen2ForCausalLM",
  qwen3: "Qwen3ForCausalLM",
};

/** The tensor holding Llama 3's RoPE factors. */
export const ROPE_FREQS = "rope_freqs.weight";

/** config.json of a Llama-style GGUF file under llama.cpp's architecture `arch`, for model_type `modelType`. */
export function llamaConfigJson(view: GgufModelView, arch: string, modelType: string): Record<string, unknown> {
  const read = metaReader(view.path, view.metadata);
  const hidden = read.int(`${arch}.embedding_length`);
  const heads = read.int(`${arch}.attention.head_count`);
  const headDim = read.int(`${arch}.attention.key_length`, hidden / heads);
  const valueLength = read.int(`${arch}.attention.value_length`, headDim);
  const rotary = read.int(`${arch}.rope.dimension_count`, headDim);
  if (valueLength !== headDim || rotary !== headDim) {
    throw new LoratuneError(
      "ERR_UNSUPPORTED",
      `${view.path}: ${arch}.attention.value_length (${valueLength}) and ${arch}.rope.dimension_count (${rotary}) must equal the key length ${headDim} (partial rotary or unequal key/value heads are not supported)`,
    );
  }
  const experts = read.int(`${arch}.expert_count`, 0);
  if (experts > 0) {
    throw new LoratuneError(
      "ERR_UNSUPPORTED",
      `${view.path}: ${arch}.expert_count is ${experts}; mixture-of-experts models are not supported`,
    );
  }
  const embed = view.shape("token_embd.weight");
  if (embed?.length !== 2) {
    throw new LoratuneError("ERR_GGUF", `${view.path}: no 2-D token_embd.weight tensor (the token embedding)`);
  }
  const theta = read.float(`${arch}.rope.freq_base`, 10000);
  const eos = [read.optInt("tokenizer.ggml.eos_token_id"), read.optInt("tokenizer.ggml.eot_token_id")];
  const eosIds = [...new Set(eos.filter((v): v is number => v !== undefined))];
  return {
    architectures: [ARCHITECTURES[modelType] ?? "LlamaForCausalLM"],
    model_type: modelType,
    hidden_act: "silu",
    hidden_size: hidden,
    num_hidden_layers: read.int(`${arch}.block_count`),
    num_attention_heads: heads,
    num_key_value_heads: read.int(`${arch}.attention.head_count_kv`, heads),
    head_dim: headDim,
    intermediate_size: read.int(`${arch}.feed_forward_length`),
    vocab_size: embed[0],
    max_position_embeddings: read.int(`${arch}.context_length`),
    rms_norm_eps: read.float(`${arch}.attention.layer_norm_rms_epsilon`),
    rope_theta: theta,
    rope_scaling: ropeScalingJson(view, arch, headDim, theta, read),
    attention_bias: view.shape("blk.0.attn_q.bias") !== undefined,
    tie_word_embeddings: view.shape("output.weight") === undefined,
    ...(read.optInt("tokenizer.ggml.bos_token_id") !== undefined
      ? { bos_token_id: read.optInt("tokenizer.ggml.bos_token_id") }
      : {}),
    ...(eosIds.length > 0 ? { eos_token_id: eosIds.length === 1 ? eosIds[0] : eosIds } : {}),
    torch_dtype: "float32",
  };
}

/** rope_scaling of config.json: null, linear (from the metadata) or llama3 (from rope_freqs). */
function ropeScalingJson(
  view: GgufModelView,
  arch: string,
  headDim: number,
  theta: number,
  read: ReturnType<typeof metaReader>,
): Record<string, unknown> | null {
  const type = stringOf(view.metadata, `${arch}.rope.scaling.type`) ?? "none";
  const hasFreqs = view.shape(ROPE_FREQS) !== undefined;
  if (type === "linear" && !hasFreqs) return { rope_type: "linear", factor: read.float(`${arch}.rope.scaling.factor`) };
  if (type !== "none" && type !== "linear") {
    throw new LoratuneError(
      "ERR_UNSUPPORTED",
      `${view.path}: ${arch}.rope.scaling.type "${type}" is not supported (supported: none, linear, and Llama 3's rope_freqs)`,
    );
  }
  if (!hasFreqs) return null;
  const unsupported = (why: string) =>
    new LoratuneError(
      "ERR_UNSUPPORTED",
      `${view.path}: tensor ${ROPE_FREQS} ${why}; this RoPE scaling is not supported`,
    );
  if (type === "linear") throw unsupported("is given together with linear RoPE scaling");
  const s = llama3ScalingFromFactors(headDim, theta, view.f32(ROPE_FREQS));
  if (s === undefined) throw unsupported("holds factors that no Llama-3 rope_scaling reproduces exactly");
  if (s === null) return null;
  return {
    rope_type: "llama3",
    factor: s.factor,
    low_freq_factor: s.lowFreqFactor,
    high_freq_factor: s.highFreqFactor,
    original_max_position_embeddings: s.originalMaxPositions,
  };
}

/** The shortest decimal that rounds to the same f32 as v (v itself when no shorter one does). */
export function f32Decimal(v: number): number {
  for (let p = 1; p <= 9; p++) {
    const x = Number(v.toPrecision(p));
    if (Math.fround(x) === v) return x;
  }
  return v;
}

/** Numeric reads of the metadata; a missing or non-numeric key is ERR_GGUF naming the file and the key. */
export function metaReader(path: string, meta: GgufMetadata) {
  const fail = (key: string, what: string): never => {
    throw new LoratuneError("ERR_GGUF", `${path}: metadata ${key} ${what}`);
  };
  const optInt = (key: string): number | undefined => {
    if (!meta.has(key)) return undefined;
    const v = numberOf(meta, key);
    return v !== undefined && Number.isSafeInteger(v) && v >= 0 ? v : fail(key, "must be a non-negative integer");
  };
  return {
    optInt,
    int: (key: string, fallback?: number): number => {
      const v = optInt(key) ?? fallback;
      return v === undefined ? fail(key, "is missing (a llama.cpp model file has it)") : v;
    },
    float: (key: string, fallback?: number): number => {
      if (!meta.has(key)) return fallback ?? fail(key, "is missing (a llama.cpp model file has it)");
      const v = numberOf(meta, key);
      if (v === undefined || !Number.isFinite(v)) return fail(key, "must be a number");
      return meta.get(key)?.type === "f32" ? f32Decimal(v) : v;
    },
  };
}
