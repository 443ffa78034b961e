/**
 * Hugging Face `config.json` → ModelConfig. The file's `model_type` names the family (model/arch/registry.ts),
 * and the family's record parses the rest, so a bad or unsupported config fails with one clear error that names
 * the file and the key. Nothing here touches the file system (the browser bundle parses a fetched config.json);
 * reading a directory's config.json is config-file.ts.
 */
import { fieldReader } from "./arch/config-fields.ts";
import { familyForType } from "./arch/registry.ts";

export { CONFIG_LIMITS } from "./arch/config-fields.ts";

/**
 * The sizes and settings the engine reads from config.json. The fields every family has come first; settings
 * only one family reads (the Llama family's RoPE, q/k/v biases and q/k norms) are in `arch`, which only that
 * family's record looks inside.
 */
export interface ModelConfig {
  /** config.json's `model_type` ("llama", "qwen2", …): names the family record through the registry. */
  modelType: string;
  /** Width of the residual stream, C (`hidden_size`; GPT-2: `n_embd`). */
  hiddenSize: number;
  /** Number of transformer blocks, L (`num_hidden_layers`; GPT-2: `n_layer`). */
  numLayers: number;
  /** Query heads per attention layer (`num_attention_heads`). */
  numHeads: number;
  /** Key/value heads (`num_key_value_heads`, grouped-query attention); equal to numHeads when absent. */
  numKvHeads: number;
  /** Width of one attention head (`head_dim`, else hidden_size / num_attention_heads). */
  headDim: number;
  /** Width of the MLP's hidden layer, F (`intermediate_size`; GPT-2: `n_inner`, default 4·C). */
  intermediateSize: number;
  /** Rows of the embedding table and outputs of the head, V (`vocab_size`). */
  vocabSize: number;
  /** Longest context the model was trained for (`max_position_embeddings`, default 2048; GPT-2: `n_positions`). */
  maxPositions: number;
  /** Epsilon inside the normalisation layers (`rms_norm_eps`, default 1e-6; GPT-2: `layer_norm_epsilon`). */
  normEps: number;
  /** The output head is the embedding table itself (`tie_word_embeddings`, default false), not a tensor of its own. */
  tieWordEmbeddings: boolean;
  /** `bos_token_id`, or null when config.json names none. */
  bosTokenId: number | null;
  /** `eos_token_id` as a list (one id or several); generation stops at any of them. Empty when none. */
  eosTokenIds: number[];
  /**
   * Settings only the family's record reads, in the shape it chooses (for the Llama family: `LlamaArch` in
   * model/arch/llama-style.ts, with RoPE theta and scaling, q/k/v biases and q/k norms).
   */
  arch: unknown;
}

type Json = Record<string, unknown>;

/** Parses a config.json object: its model_type picks the family, whose record parses the rest. */
export function parseModelConfig(raw: Json, where = "config.json"): ModelConfig {
  const modelType = fieldReader(raw, where).string("model_type");
  return familyForType(modelType, where).parseConfig(raw, where);
}
