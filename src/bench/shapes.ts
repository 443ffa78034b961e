/**
 * Named model shapes for `loratune bench`: Hugging Face config.json objects (the same fields and values as
 * ../shared/reference/make_model.py writes, so the PyTorch side runs the very same shape), turned into a
 * ModelConfig by the normal config parser. Weights are made in memory with random values (random-model.ts).
 */
import { LoratuneError } from "../errors.ts";
import { type ModelConfig, parseModelConfig } from "../model/config.ts";

/**
 * Fields every bench config shares (a plain Llama, f32, HF defaults as make_model.py sets them); a shape may
 * override them, as qwen2.5-0.5b does its family.
 */
const COMMON: Record<string, unknown> = {
  architectures: ["LlamaForCausalLM"],
  model_type: "llama",
  hidden_act: "silu",
  rms_norm_eps: 1e-5,
  rope_theta: 10000.0,
  rope_scaling: null,
  attention_bias: false,
  attention_dropout: 0.0,
  mlp_bias: false,
  initializer_range: 0.02,
  bos_token_id: 1,
  eos_token_id: 2,
  torch_dtype: "float32",
  use_cache: true,
  pretraining_tp: 1,
};

/** What the Llama-3 family's config.json files share. */
const LLAMA3: Record<string, unknown> = {
  vocab_size: 128256,
  max_position_embeddings: 131072,
  rope_theta: 500000.0,
  bos_token_id: 128000,
  eos_token_id: 128001,
};

/** Llama-3.1/3.2's rope_scaling (the factor differs: 8 for 3.1, 32 for 3.2). */
const LLAMA3_ROPE_SCALING = {
  rope_type: "llama3",
  low_freq_factor: 1.0,
  high_freq_factor: 4.0,
  original_max_position_embeddings: 8192,
};

/** Per-shape fields. tiny = stories260K, small = stories15M, smollm135 = SmolLM2-135M (all tied embeddings). */
const SHAPES: Record<string, Record<string, unknown>> = {
  tiny: {
    hidden_size: 64,
    num_hidden_layers: 5,
    num_attention_heads: 8,
    num_key_value_heads: 4,
    intermediate_size: 172,
    vocab_size: 512,
    max_position_embeddings: 512,
    tie_word_embeddings: true,
  },
  small: {
    hidden_size: 288,
    num_hidden_layers: 6,
    num_attention_heads: 6,
    num_key_value_heads: 6,
    intermediate_size: 768,
    vocab_size: 32000,
    max_position_embeddings: 256,
    tie_word_embeddings: true,
  },
  smollm135: {
    hidden_size: 576,
    num_hidden_layers: 30,
    num_attention_heads: 9,
    num_key_value_heads: 3,
    intermediate_size: 1536,
    vocab_size: 49152,
    max_position_embeddings: 2048,
    tie_word_embeddings: true,
    bos_token_id: 0,
    eos_token_id: 0,
  },
  // Not a published model: a Llama whose every linear has rows of whole 256-value blocks (hidden 512,
  // intermediate 1536), so that --dtype q4_k quantizes all of them (the shapes above fall back to q8_0).
  llama512: {
    hidden_size: 512,
    num_hidden_layers: 8,
    num_attention_heads: 8,
    num_key_value_heads: 4,
    intermediate_size: 1536,
    vocab_size: 8192,
    max_position_embeddings: 1024,
    tie_word_embeddings: true,
  },
  // Real configurations (random weights): Qwen2.5-0.5B, Llama-3.2-1B and Llama-3.1-8B as their config.json files
  // have them (Qwen2's q/k/v biases, Llama-3 RoPE scaling included). Run only when named (their models take
  // gigabytes and up to minutes per step).
  "qwen2.5-0.5b": {
    architectures: ["Qwen2ForCausalLM"],
    model_type: "qwen2",
    hidden_size: 896,
    num_hidden_layers: 24,
    num_attention_heads: 14,
    num_key_value_heads: 2,
    intermediate_size: 4864,
    vocab_size: 151936,
    max_position_embeddings: 32768,
    rms_norm_eps: 1e-6,
    rope_theta: 1000000.0,
    sliding_window: 32768,
    max_window_layers: 24,
    use_sliding_window: false,
    tie_word_embeddings: true,
    bos_token_id: 151643,
    eos_token_id: 151643,
  },
  "llama-3.2-1b": {
    ...LLAMA3,
    hidden_size: 2048,
    num_hidden_layers: 16,
    num_attention_heads: 32,
    num_key_value_heads: 8,
    head_dim: 64,
    intermediate_size: 8192,
    tie_word_embeddings: true,
    rope_scaling: { ...LLAMA3_ROPE_SCALING, factor: 32.0 },
  },
  // Gemma-3-1B's text config (google/gemma-3-1b-pt): 5 sliding-window layers (window 512, RoPE base 1e4) to each
  // global one (RoPE base 1e6), head_dim 256 apart from hidden/heads, GeGLU, tied head over a 262144-token vocabulary.
  "gemma-3-1b": {
    architectures: ["Gemma3ForCausalLM"],
    model_type: "gemma3_text",
    hidden_size: 1152,
    num_hidden_layers: 26,
    num_attention_heads: 4,
    num_key_value_heads: 1,
    head_dim: 256,
    intermediate_size: 6912,
    vocab_size: 262144,
    max_position_embeddings: 32768,
    hidden_activation: "gelu_pytorch_tanh",
    hidden_act: undefined, // COMMON's silu removed: Gemma reads hidden_activation (JSON drops the key)
    rms_norm_eps: 1e-6,
    rope_theta: 1000000.0,
    rope_local_base_freq: 10000.0,
    sliding_window: 512,
    sliding_window_pattern: 6,
    query_pre_attn_scalar: 256,
    attn_logit_softcapping: null,
    final_logit_softcapping: null,
    tie_word_embeddings: true,
    bos_token_id: 2,
    eos_token_id: 1,
    pad_token_id: 0,
  },
  "llama-3.1-8b": {
    ...LLAMA3,
    hidden_size: 4096,
    num_hidden_layers: 32,
    num_attention_heads: 32,
    num_key_value_heads: 8,
    head_dim: 128,
    intermediate_size: 14336,
    tie_word_embeddings: false,
    rope_scaling: { ...LLAMA3_ROPE_SCALING, factor: 8.0 },
  },
};

export const SHAPE_NAMES: readonly string[] = Object.keys(SHAPES);

/** The shapes a run without --shapes takes (llama512 and the real-scale shapes only when asked for). */
export const DEFAULT_SHAPES: readonly string[] = ["tiny", "small", "smollm135"];

/** The config.json object of a named shape (what the PyTorch side loads). */
export function shapeConfigJson(name: string): Record<string, unknown> {
  const fields = SHAPES[name];
  if (!fields) {
    throw new LoratuneError("ERR_USAGE", `--shapes: unknown shape "${name}" (known: ${SHAPE_NAMES.join(", ")})`);
  }
  return { ...COMMON, ...fields };
}

/** The ModelConfig of a named shape. */
export function shapeConfig(name: string): ModelConfig {
  return parseModelConfig(shapeConfigJson(name), `bench shape "${name}"`);
}

/** Parses a --shapes value ("tiny,small"); every name must be known. */
export function parseShapeList(value: string): string[] {
  const names = value
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
  if (names.length === 0) throw new LoratuneError("ERR_USAGE", `--shapes: expected shape names, got "${value}"`);
  for (const n of names) shapeConfigJson(n);
  return names;
}
