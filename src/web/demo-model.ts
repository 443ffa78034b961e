/**
 * The model the page trains, fetched from `base` (a folder URL holding a Hugging Face model directory's files:
 * config.json, model.safetensors, tokenizer.json, tokenizer_config.json, and when present generation_config.json
 * and chat_template.jinja; the bundled demo model by default). Built as loadModel and loadTokenizer build them
 * from a directory, from the same parsers, without the file system: base weights held in f32 (train's default
 * --dtype; bf16 widens exactly), RoPE tables for `positions`.
 */
import { LoratuneError } from "../errors.ts";
import { readSafetensorsBytes, safetensorsBytesHeader } from "../io/safetensors-bytes.ts";
import type { FileDType } from "../io/safetensors-format.ts";
import { assembleModel } from "../model/assemble.ts";
import { parseModelConfig } from "../model/config.ts";
import type { Model } from "../model/model.ts";
import { Tokenizer } from "../tokenizer/tokenizer.ts";

export interface WebModel {
  model: Model;
  tokenizer: Tokenizer;
  /** The folder URL it came from (errors and adapter_config.json's base_model_name_or_path name it). */
  origin: string;
  /** Bytes fetched. */
  bytes: number;
}

type Json = Record<string, unknown>;

/** Fetches one file of the folder: bytes, or null when it is optional and missing (404). */
async function fetchFile(base: URL, name: string, optional: boolean): Promise<Uint8Array | null> {
  const url = new URL(name, base);
  let res: Response;
  try {
    res = await fetch(url);
  } catch (err) {
    throw new LoratuneError("ERR_IO", `${url}: cannot fetch the model file (${(err as Error).message})`, {
      cause: err,
    });
  }
  if (res.status === 404 && optional) return null;
  if (!res.ok) throw new LoratuneError("ERR_IO", `${url}: cannot fetch the model file (HTTP ${res.status})`);
  return new Uint8Array(await res.arrayBuffer());
}

function json(bytes: Uint8Array, where: string, code: "ERR_CONFIG" | "ERR_TOKENIZER"): Json {
  let v: unknown;
  try {
    v = JSON.parse(new TextDecoder().decode(bytes));
  } catch (err) {
    throw new LoratuneError(code, `${where}: invalid JSON (${(err as Error).message})`, { cause: err });
  }
  if (v === null || typeof v !== "object" || Array.isArray(v)) {
    throw new LoratuneError(code, `${where}: invalid JSON (not a JSON object)`);
  }
  return v as Json;
}

/** Loads the model folder at `base` (absolute, ending in "/"), its RoPE tables sized for `positions` tokens. */
export async function loadWebModel(base: URL, positions: number): Promise<WebModel> {
  const origin = base.href;
  const names = ["config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"];
  const optional = ["generation_config.json", "chat_template.jinja"];
  const files = await Promise.all([
    ...names.map((n) => fetchFile(base, n, false)),
    ...optional.map((n) => fetchFile(base, n, true)),
  ]);
  const [configBytes, weights, tokBytes, tokConfigBytes, genBytes, jinjaBytes] = files;
  const at = (name: string) => new URL(name, base).href;
  const config = parseModelConfig(json(configBytes!, at("config.json"), "ERR_CONFIG"), at("config.json"));
  const header = safetensorsBytesHeader(weights!, at("model.safetensors"));
  const tensors = readSafetensorsBytes(weights!, at("model.safetensors"), "f32");
  // The checkpoint's dtype as loadModel records it: the embedding table's (bf16 for the demo model).
  const embedDtype = [...header.tensors.values()].find((t) => t.name.endsWith("embed_tokens.weight"))?.dtype;
  const sourceDtype: FileDType = embedDtype === "BF16" || embedDtype === "F16" ? embedDtype : "F32";
  const model = assembleModel(config, tensors, "f32", origin, Math.min(config.maxPositions, positions), sourceDtype);
  const tokenizer = new Tokenizer({
    origin: origin.replace(/\/$/, ""),
    tokenizer: json(tokBytes!, at("tokenizer.json"), "ERR_TOKENIZER"),
    config: json(tokConfigBytes!, at("tokenizer_config.json"), "ERR_TOKENIZER"),
    generationConfig: genBytes ? json(genBytes, at("generation_config.json"), "ERR_TOKENIZER") : null,
    chatTemplateJinja: jinjaBytes ? new TextDecoder().decode(jinjaBytes) : null,
  });
  const bytes = files.reduce((n, f) => n + (f?.length ?? 0), 0);
  return { model, tokenizer, origin, bytes };
}
