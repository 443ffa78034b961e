/**
 * Shared pieces for the families' config.json parsers: bounded field readers that fail with one clear error
 * naming the file and the key.
 */
import { LoratuneError } from "../../errors.ts";
import { previewJson } from "../../io/preview.ts";

type Json = Record<string, unknown>;

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

export function isObject(v: unknown): v is Json {
  return v !== null && typeof v === "object" && !Array.isArray(v);
}

/** eos_token_id: one id, a list of ids, or absent. */
export function readEos(value: unknown): number[] {
  if (typeof value === "number") return [value];
  if (Array.isArray(value)) return value.filter((v): v is number => typeof v === "number");
  return [];
}

/** Typed readers of raw[key]; each throws ERR_CONFIG naming `where` and the key. */
export function fieldReader(raw: Json, where: string) {
  const fail = (key: string, expected: string): never => {
    throw new LoratuneError("ERR_CONFIG", `${where}: "${key}" must be ${expected} (got ${previewJson(raw[key])})`);
  };
  return {
    string: (key: string): string => (typeof raw[key] === "string" ? (raw[key] as string) : fail(key, "a string")),
    /** A positive integer of at most `max` (by default the CONFIG_LIMITS entry of the key). */
    positiveInt: (key: string, max?: number): number => {
      const limit = max ?? (CONFIG_LIMITS as Record<string, number>)[key];
      if (limit === undefined) throw new Error(`fieldReader: no size limit for "${key}"`);
      const v = raw[key];
      return typeof v === "number" && Number.isInteger(v) && v > 0 && v <= limit
        ? v
        : fail(key, `a positive integer of at most ${limit}`);
    },
    positiveNumber: (key: string): number => {
      const v = raw[key];
      return typeof v === "number" && v > 0 && Number.isFinite(v) ? v : fail(key, "a positive finite number");
    },
    boolean: (key: string): boolean =>
      typeof raw[key] === "boolean" ? (raw[key] as boolean) : fail(key, "true or false"),
  };
}
