/**
 * `inspect file.gguf`: what a GGUF file holds, from its header alone (no tensor data is read).
 * - a model (llama.cpp, Ollama, LM Studio, `loratune export`): its architecture and the family loratune reads it
 *   as, parameters, how many tensors of each ggml type, the file's size, the shape the metadata gives, the tokenizer
 *   (tokenizer.ggml.model and .pre), whether a chat template is present, and whether loratune can load it (the
 *   reason when not);
 * - a LoRA adapter (general.type "adapter"): the base architecture, alpha, rank(s), targeted modules, and the PEFT
 *   config loratune carries in `loratune.adapter_config` when present.
 * Metadata values are read leniently: a hyperparameter of an odd type is reported as absent, not refused, so a
 * file loratune cannot load is still described.
 */
import { isLoratuneError } from "../errors.ts";
import { type GgufMetadata, numberOf, stringOf } from "../gguf/metadata.ts";
import { type GgufFile, readGgufHeader } from "../gguf/reader.ts";
import { isLoraConfig } from "../lora/config.ts";
import { PEFT_CONFIG_KEY } from "../lora/gguf-adapter.ts";
import { parseAdapterConfig } from "../lora/registry.ts";
import { familyForGgufArch } from "../model/arch/registry.ts";
import type { ModelFamily } from "../model/arch/spec.ts";
import { readGgufModel } from "../model/load-gguf.ts";
import { formatById } from "../tensor/formats/index.ts";

export interface GgufModelReport {
  kind: "gguf-model";
  path: string;
  /** general.architecture ("llama", "qwen2"). */
  architecture: string | null;
  /** The model_type loratune reads the architecture as (the family), or null when it has none. */
  model_type: string | null;
  /** general.name. */
  name: string | null;
  /** Values in the weight tensors (rope_freqs, a RoPE table, not counted). */
  parameters: number;
  /** Tensors per ggml type ("q4_k": 112), most tensors first. */
  tensor_types: Record<string, number>;
  /** general.file_type (llama_ftype), or null. */
  file_type: number | null;
  file_bytes: number;
  vocab_size: number | null;
  layers: number | null;
  hidden_size: number | null;
  intermediate_size: number | null;
  attention_heads: number | null;
  key_value_heads: number | null;
  head_dim: number | null;
  /** <arch>.context_length. */
  max_positions: number | null;
  /** No output.weight: the output head is the embedding table. */
  tied_embeddings: boolean;
  /** tokenizer.ggml.model ("gpt2": byte-level BPE, "llama": SentencePiece-style), or null without a tokenizer. */
  tokenizer: string | null;
  /** tokenizer.ggml.pre (the split rules), or null. */
  tokenizer_pre: string | null;
  chat_template: boolean;
  /** Whether loratune can use it as a base model (architecture, hyperparameters and tensor types). */
  loadable: boolean;
  /** Why not, when not. */
  problem: string | null;
}

export interface GgufAdapterReport {
  kind: "gguf-adapter";
  path: string;
  /** The base model's general.architecture. */
  architecture: string | null;
  model_type: string | null;
  name: string | null;
  /** adapter.lora.alpha: llama.cpp scales each module by alpha / r. */
  alpha: number | null;
  /** The distinct ranks of the lora_a tensors, smallest first. */
  ranks: number[];
  /** The targeted module names (q_proj, v_proj), from the tensor names. */
  target_modules: string[];
  adapted_modules: number;
  /** Values in every lora_a and lora_b. */
  trainable_params: number;
  tensor_types: Record<string, number>;
  file_bytes: number;
  /** The PEFT settings loratune writes into `loratune.adapter_config` (null when the file has none). */
  peft: { r: number; lora_alpha: number; use_rslora: boolean; target_modules: string[] | string } | null;
  /** base_model_name_or_path of the carried PEFT config. */
  base_model: string | null;
}

export type GgufReport = GgufModelReport | GgufAdapterReport;

/** Describes the GGUF file at `path` (a model or a LoRA adapter). */
export function inspectGguf(path: string): GgufReport {
  const file = readGgufHeader(path);
  return stringOf(file.metadata, "general.type") === "adapter" ? adapterReport(file) : modelReport(file);
}

/** Tensors per lower-cased ggml type name, most first (ties by name). */
function typeHistogram(file: GgufFile): Record<string, number> {
  const counts = new Map<string, number>();
  for (const t of file.tensors) counts.set(t.type.name.toLowerCase(), (counts.get(t.type.name.toLowerCase()) ?? 0) + 1);
  return Object.fromEntries([...counts].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0])));
}

const values = (shape: number[]) => shape.reduce((a, b) => a * b, 1);

/** A positive integer metadata value, else null (a value of an odd type reads as absent). */
function positive(meta: GgufMetadata, key: string): number | null {
  const n = numberOf(meta, key);
  return n !== undefined && Number.isInteger(n) && n > 0 ? n : null;
}

function familyOf(arch: string | null, path: string): ModelFamily | null {
  if (arch === null) return null;
  try {
    return familyForGgufArch(arch, path);
  } catch {
    return null;
  }
}

function modelReport(file: GgufFile): GgufModelReport {
  const meta = file.metadata;
  const arch = stringOf(meta, "general.architecture") ?? null;
  const family = familyOf(arch, file.path);
  const at = (key: string) => (arch === null ? null : positive(meta, `${arch}.${key}`));
  const hidden = at("embedding_length");
  const heads = at("attention.head_count");
  const embed = file.tensors.find((t) => t.name === "token_embd.weight");
  const tokens = meta.get("tokenizer.ggml.tokens");
  const template = [...meta.keys()].some((k) => k.startsWith("tokenizer.chat_template"));
  const { loadable, problem } = loadability(file);
  return {
    kind: "gguf-model",
    path: file.path,
    architecture: arch,
    model_type: family?.modelTypes[0] ?? null,
    name: stringOf(meta, "general.name") ?? null,
    parameters: file.tensors.filter((t) => t.name !== "rope_freqs.weight").reduce((n, t) => n + values(t.shape), 0),
    tensor_types: typeHistogram(file),
    file_type: numberOf(meta, "general.file_type") ?? null,
    file_bytes: file.fileSize,
    vocab_size: embed?.shape[0] ?? (tokens?.type === "array" ? tokens.value.length : null),
    layers: at("block_count"),
    hidden_size: hidden,
    intermediate_size: at("feed_forward_length"),
    attention_heads: heads,
    key_value_heads: at("attention.head_count_kv") ?? heads,
    head_dim: at("attention.key_length") ?? (hidden !== null && heads !== null ? hidden / heads : null),
    max_positions: at("context_length"),
    tied_embeddings: !file.tensors.some((t) => t.name === "output.weight"),
    tokenizer: stringOf(meta, "tokenizer.ggml.model") ?? null,
    tokenizer_pre: stringOf(meta, "tokenizer.ggml.pre") ?? null,
    chat_template: template,
    loadable,
    problem,
  };
}

/** Whether loratune reads the file as a base model: its config rebuilt from the metadata, every tensor type known. */
function loadability(file: GgufFile): { loadable: boolean; problem: string | null } {
  try {
    readGgufModel(file.path);
  } catch (err) {
    if (!isLoratuneError(err)) throw err;
    return { loadable: false, problem: err.message.replace(`${file.path}: `, "") };
  }
  const unreadable = [
    ...new Set(file.tensors.filter((t) => formatById(t.type.id) === undefined).map((t) => t.type.name)),
  ];
  if (unreadable.length > 0) {
    return { loadable: false, problem: `tensors of ggml types loratune cannot read: ${unreadable.join(", ")}` };
  }
  return { loadable: true, problem: null };
}

function adapterReport(file: GgufFile): GgufAdapterReport {
  const meta = file.metadata;
  const arch = stringOf(meta, "general.architecture") ?? null;
  const family = familyOf(arch, file.path);
  const ranks = new Set<number>();
  const targets = new Set<string>();
  let modules = 0;
  let params = 0;
  for (const t of file.tensors) {
    params += values(t.shape);
    const m = /^(.+)\.lora_a$/.exec(t.name);
    if (!m) continue;
    modules++;
    ranks.add(t.shape[0]!);
    const hf = family?.gguf?.hfTensorName(m[1]!) ?? null;
    // "model.layers.0.self_attn.q_proj.weight" → q_proj; without a family, llama.cpp's own name (attn_q).
    targets.add(hf !== null ? hf.split(".").at(-2)! : (m[1]!.split(".").at(-2) ?? m[1]!));
  }
  const peft = carriedPeft(file);
  return {
    kind: "gguf-adapter",
    path: file.path,
    architecture: arch,
    model_type: family?.modelTypes[0] ?? null,
    name: stringOf(meta, "general.name") ?? null,
    alpha: numberOf(meta, "adapter.lora.alpha") ?? null,
    ranks: [...ranks].sort((a, b) => a - b),
    target_modules: [...targets].sort(),
    adapted_modules: modules,
    trainable_params: params,
    tensor_types: typeHistogram(file),
    file_bytes: file.fileSize,
    peft: peft?.settings ?? null,
    base_model: peft?.base ?? null,
  };
}

/** The PEFT config in loratune.adapter_config, or null when absent or not a LoRA config (described from tensors). */
function carriedPeft(file: GgufFile): { settings: NonNullable<GgufAdapterReport["peft"]>; base: string | null } | null {
  const text = stringOf(file.metadata, PEFT_CONFIG_KEY);
  if (text === undefined) return null;
  let raw: Record<string, unknown>;
  try {
    raw = JSON.parse(text) as Record<string, unknown>;
  } catch {
    return null;
  }
  const c = parseAdapterConfig(raw, `${file.path} (${PEFT_CONFIG_KEY})`);
  if (!isLoraConfig(c)) return null;
  const base = raw.base_model_name_or_path;
  return {
    settings: { r: c.r, lora_alpha: c.loraAlpha, use_rslora: c.useRslora, target_modules: c.targetModules },
    base: typeof base === "string" && base !== "" ? base : null,
  };
}
