/**
 * Hugging Face `config.json` → ModelConfig for the Llama family (llama, mistral, qwen2, qwen3).
 * Every value the engine depends on is validated here, so a bad or unsupported config fails with one clear error
 * that names the file and the key.
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { LoratuneError } from "../errors.ts";
import { readJsonObject } from "../io/json-file.ts";
import { previewJson } from "../io/preview.ts";

export type ModelType = "llama" | "mistral" | "qwen2" | "qwen3";
export const SUPPORTED_MODEL_TYPES: readonly ModelType[] = ["llama", "mistral", "qwen2", "qwen3"];

export type RopeScaling =
  | { type: "linear"; factor: number }
  | { type: "llama3"; factor: number; lowFreqFactor: number; highFreqFactor: number; originalMaxPositions: number };

export interface ModelConfig {
  modelType: ModelType;
  hiddenSize: number;
  numLayers: number;
  numHeads: number;
  numKvHeads: number;
  headDim: number;
  intermediateSize: number;
  vocabSize: number;
  maxPositions: number;
  rmsNormEps: number;
  ropeTheta: number;
  ropeScaling: RopeScaling | null;
  tieWordEmbeddings: boolean;
  /** q/k/v projections carry biases (Qwen2, or `attention_bias: true`). */
  qkvBias: boolean;
  /** RMSNorm over head_dim on q and k before RoPE (Qwen3). */
  qkNorm: boolean;
  bosTokenId: number | null;
  eosTokenIds: number[];
}

type Json = Record<string, unknown>;

export function readModelConfig(dir: string): ModelConfig {
  const path = join(dir, "config.json");
  if (!existsSync(path)) throw new LoratuneError("ERR_CONFIG", `${path}: no model config (config.json) in ${dir}`);
  return parseModelConfig(readJsonObject(path, "ERR_CONFIG"), path);
}

/**
 * Upper bounds on sizes read from config.json, far above any released model (Llama-3.1-405B: hidden 16384,
 * 126 layers, 128 heads, intermediate 53248; vocabularies up to ~262k; contexts up to ~10M). They keep a
 * corrupted or hostile config from driving allocations and loops by values no file size backs.
 */
export const CONFIG_LIMITS = {
  hidden_size: 1 << 17,
  num_hidden_layers: 4096,
  num_attention_heads: 1 << 12,
  num_key_value_heads: 1 << 12,
  head_dim: 1 << 12,
  intermediate_size: 1 << 20,
  vocab_size: 1 << 24,
  max_position_embeddings: 1 << 24,
} as const;

export function parseModelConfig(raw: Json, where = "config.json"): ModelConfig {
  const get = fieldReader(raw, where);
  const modelType = get.string("model_type");
  if (!SUPPORTED_MODEL_TYPES.includes(modelType as ModelType)) {
    throw new LoratuneError(
      "ERR_UNSUPPORTED",
      `${where}: model_type ${previewJson(modelType)} is not supported (supported: ${SUPPORTED_MODEL_TYPES.join(", ")})`,
    );
  }
  const act = raw.hidden_act ?? raw.hidden_activation ?? "silu";
  if (act !== "silu")
    throw new LoratuneError("ERR_UNSUPPORTED", `${where}: hidden_act ${previewJson(act)} is not supported (silu)`);
  if (raw.mlp_bias === true) throw new LoratuneError("ERR_UNSUPPORTED", `${where}: mlp_bias true is not supported`);

  const hiddenSize = get.positiveInt("hidden_size");
  const numHeads = get.positiveInt("num_attention_heads");
  const numKvHeads = raw.num_key_value_heads == null ? numHeads : get.positiveInt("num_key_value_heads");
  if (numHeads % numKvHeads !== 0) {
    throw new LoratuneError(
      "ERR_CONFIG",
      `${where}: num_attention_heads (${numHeads}) must be a multiple of num_key_value_heads (${numKvHeads})`,
    );
  }
  const headDim = raw.head_dim == null ? hiddenSize / numHeads : get.positiveInt("head_dim");
  if (!Number.isInteger(headDim) || headDim % 2 !== 0) {
    throw new LoratuneError("ERR_CONFIG", `${where}: head dimension ${headDim} must be an even integer`);
  }
  const rope = readRope(raw, where);
  return {
    modelType: modelType as ModelType,
    hiddenSize,
    numLayers: get.positiveInt("num_hidden_layers"),
    numHeads,
    numKvHeads,
    headDim,
    intermediateSize: get.positiveInt("intermediate_size"),
    vocabSize: get.positiveInt("vocab_size"),
    maxPositions: raw.max_position_embeddings == null ? 2048 : get.positiveInt("max_position_embeddings"),
    rmsNormEps: raw.rms_norm_eps == null ? 1e-6 : get.positiveNumber("rms_norm_eps"),
    ropeTheta: rope.theta,
    ropeScaling: rope.scaling,
    tieWordEmbeddings: raw.tie_word_embeddings == null ? false : get.boolean("tie_word_embeddings"),
    qkvBias: modelType === "qwen2" || raw.attention_bias === true,
    qkNorm: modelType === "qwen3",
    bosTokenId: typeof raw.bos_token_id === "number" ? raw.bos_token_id : null,
    eosTokenIds: readEos(raw.eos_token_id),
  };
}

function readEos(value: unknown): number[] {
  if (typeof value === "number") return [value];
  if (Array.isArray(value)) return value.filter((v): v is number => typeof v === "number");
  return [];
}

/** RoPE from top-level rope_theta/rope_scaling or from newer files' rope_parameters. */
function readRope(raw: Json, where: string): { theta: number; scaling: RopeScaling | null } {
  const params = isObject(raw.rope_parameters) ? raw.rope_parameters : null;
  const thetaValue = raw.rope_theta ?? params?.rope_theta ?? 10000;
  if (typeof thetaValue !== "number" || !(thetaValue > 0) || !Number.isFinite(thetaValue)) {
    throw new LoratuneError(
      "ERR_CONFIG",
      `${where}: rope_theta must be a positive finite number (got ${previewJson(thetaValue)})`,
    );
  }
  const scaling = raw.rope_scaling ?? params ?? null;
  if (scaling === null) return { theta: thetaValue, scaling: null };
  if (!isObject(scaling)) {
    throw new LoratuneError("ERR_CONFIG", `${where}: rope_scaling must be an object (got ${previewJson(scaling)})`);
  }
  const type = scaling.rope_type ?? scaling.type ?? "default";
  if (type === "default") return { theta: thetaValue, scaling: null };
  const num = (key: string): number => {
    const v = scaling[key];
    if (typeof v !== "number" || !(v > 0) || !Number.isFinite(v)) {
      throw new LoratuneError(
        "ERR_CONFIG",
        `${where}: rope scaling ${previewJson(type)} needs a positive number ${key} (got ${previewJson(v)})`,
      );
    }
    return v;
  };
  if (type === "linear") return { theta: thetaValue, scaling: { type: "linear", factor: num("factor") } };
  if (type === "llama3") {
    return {
      theta: thetaValue,
      scaling: {
        type: "llama3",
        factor: num("factor"),
        lowFreqFactor: num("low_freq_factor"),
        highFreqFactor: num("high_freq_factor"),
        originalMaxPositions: num("original_max_position_embeddings"),
      },
    };
  }
  throw new LoratuneError(
    "ERR_UNSUPPORTED",
    `${where}: rope scaling type ${previewJson(type)} is not supported (supported: linear, llama3)`,
  );
}

function isObject(v: unknown): v is Json {
  return v !== null && typeof v === "object" && !Array.isArray(v);
}

function fieldReader(raw: Json, where: string) {
  const fail = (key: string, expected: string): never => {
    throw new LoratuneError("ERR_CONFIG", `${where}: "${key}" must be ${expected} (got ${previewJson(raw[key])})`);
  };
  return {
    string: (key: string): string => (typeof raw[key] === "string" ? (raw[key] as string) : fail(key, "a string")),
    positiveInt: (key: keyof typeof CONFIG_LIMITS): number => {
      const v = raw[key];
      const max = CONFIG_LIMITS[key];
      return typeof v === "number" && Number.isInteger(v) && v > 0 && v <= max
        ? v
        : fail(key, `a positive integer of at most ${max}`);
    },
    positiveNumber: (key: string): number => {
      const v = raw[key];
      return typeof v === "number" && v > 0 && Number.isFinite(v) ? v : fail(key, "a positive finite number");
    },
    boolean: (key: string): boolean =>
      typeof raw[key] === "boolean" ? (raw[key] as boolean) : fail(key, "true or false"),
  };
}
