/**
 * Gemma 3, text only (model_type gemma3_text: Gemma-3-1B and the language model of the larger ones saved alone):
 * the Gemma 2 block (gemma2.ts, gemma2-block.ts) with q and k RMSNorm-ed (1 + w) over head_dim before RoPE,
 * sliding layers with their own RoPE base (rope_local_base_freq) and global layers with rope_theta (default 1e6)
 * and its rope_scaling (linear), the sliding layers chosen by layer_types or else by sliding_window_pattern (layer i
 * slides unless (i + 1) is a multiple of it; default 6). Soft-caps only where the config sets them.
 */
import { LoratuneError } from "../../errors.ts";
import { previewJson } from "../../io/preview.ts";
import type { RopeScaling } from "../../nn/rope-tables.ts";
import type { ModelConfig } from "../config.ts";
import { fieldReader, isObject } from "./config-fields.ts";
import { gemmaGguf } from "./gemma-gguf.ts";
import { type Gemma2Layer, type Gemma2Top, gemma2, parseGemmaConfig } from "./gemma2.ts";
import type { ModelFamily } from "./spec.ts";

type Json = Record<string, unknown>;

export const gemma3Text: ModelFamily<Gemma2Layer, Gemma2Top> = {
  ...gemma2,
  name: "gemma3_text",
  modelTypes: ["gemma3_text"],
  gguf: gemmaGguf("gemma3"),
  parseConfig: parseGemma3Config,
};

function parseGemma3Config(raw: Json, where: string): ModelConfig {
  const get = fieldReader(raw, where);
  const numLayers = get.positiveInt("num_hidden_layers");
  return parseGemmaConfig({ ...raw, rope_theta: raw.rope_theta ?? 1_000_000 }, where, {
    ropeScaling: readScaling(raw.rope_scaling, where),
    localRopeTheta: raw.rope_local_base_freq == null ? 10000 : get.positiveNumber("rope_local_base_freq"),
    qkNorm: true,
    slidingLayers: readSlidingLayers(raw, where, numLayers),
  });
}

/** layer_types ("sliding_attention" / "full_attention" per layer), else sliding_window_pattern (default 6). */
function readSlidingLayers(raw: Json, where: string, numLayers: number): boolean[] {
  const types = raw.layer_types;
  if (types != null) {
    if (!Array.isArray(types) || types.length !== numLayers) {
      throw new LoratuneError(
        "ERR_CONFIG",
        `${where}: "layer_types" must list one type for each of the ${numLayers} layers (got ${previewJson(types)})`,
      );
    }
    return types.map((t, i) => {
      if (t === "sliding_attention") return true;
      if (t === "full_attention") return false;
      throw new LoratuneError(
        "ERR_CONFIG",
        `${where}: layer_types[${i}] must be "sliding_attention" or "full_attention" (got ${previewJson(t)})`,
      );
    });
  }
  const pattern =
    raw.sliding_window_pattern == null ? 6 : fieldReader(raw, where).positiveInt("sliding_window_pattern", 4096);
  return Array.from({ length: numLayers }, (_, i) => (i + 1) % pattern !== 0);
}

/** The global layers' rope_scaling: none, default, or linear with a factor. */
function readScaling(scaling: unknown, where: string): RopeScaling | null {
  if (scaling == null) return null;
  const type = isObject(scaling) ? (scaling.rope_type ?? scaling.type) : undefined;
  if (isObject(scaling) && type === "default") return null;
  const factor = isObject(scaling) ? scaling.factor : undefined;
  if (type === "linear" && typeof factor === "number" && factor > 0 && Number.isFinite(factor)) {
    return { type: "linear", factor };
  }
  throw new LoratuneError(
    "ERR_UNSUPPORTED",
    `${where}: rope_scaling ${previewJson(scaling)} is not supported for gemma3_text (linear with a positive factor)`,
  );
}
