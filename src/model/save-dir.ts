/**
 * Writing a model as a Hugging Face model directory (config.json, model.safetensors, tokenizer files copied from
 * the source), with weights in the source checkpoint's dtype, so it loads as a plain model anywhere.
 */
import { copyFileSync, existsSync } from "node:fs";
import { join } from "node:path";
import { bf16ToF32 } from "../io/dtype.ts";
import type { FileDType, TensorToWrite } from "../io/safetensors.ts";
import { writeSafetensors } from "../io/safetensors-write.ts";
import type { StoredTensor } from "../tensor/stored-tensor.ts";
import type { LlamaModel } from "./llama.ts";

/** Files besides the weights that make a model directory usable (copied when present). */
export const MODEL_SIDE_FILES = [
  "config.json",
  "generation_config.json",
  "tokenizer.json",
  "tokenizer_config.json",
  "special_tokens_map.json",
  "tokenizer.model",
  "vocab.json",
  "merges.txt",
  "added_tokens.json",
  "chat_template.jinja",
  "chat_template.json",
];

/** Every weight of the model under its Hugging Face name (the tied head is not stored, as transformers does). */
export function modelStateDict(model: LlamaModel): Map<string, StoredTensor> {
  const c = model.config;
  const out = new Map<string, StoredTensor>();
  const vec = (name: string, data: Float32Array) => out.set(name, { dtype: "f32", shape: [data.length], data });
  out.set("model.embed_tokens.weight", model.embed);
  model.layers.forEach((l, i) => {
    vec(`model.layers.${i}.input_layernorm.weight`, l.inputNorm.data);
    vec(`model.layers.${i}.post_attention_layernorm.weight`, l.postNorm.data);
    if (l.qNorm) vec(l.qNorm.name, l.qNorm.data);
    if (l.kNorm) vec(l.kNorm.name, l.kNorm.data);
    for (const lin of [l.q, l.k, l.v, l.o, l.gate, l.up, l.down]) {
      out.set(`${lin.name}.weight`, lin.weight);
      if (lin.bias) vec(`${lin.name}.bias`, lin.bias);
    }
  });
  vec("model.norm.weight", model.norm.data);
  if (!c.tieWordEmbeddings) out.set("lm_head.weight", model.lmHead);
  return out;
}

function toWrite(t: StoredTensor, dtype: FileDType): TensorToWrite {
  if (t.dtype === "bf16" && dtype === "BF16") return { dtype, shape: t.shape, data: t.data };
  if (t.dtype === "f32") return { dtype, shape: t.shape, data: t.data };
  const f32 = new Float32Array(t.data.length);
  bf16ToF32(f32, t.data as Uint16Array, f32.length);
  return { dtype, shape: t.shape, data: f32 };
}

/** Writes the model's files (weights in `dtype`, side files copied from `sourceDir`) into an existing `dir`. */
export function writeModelFiles(dir: string, model: LlamaModel, sourceDir: string, dtype: FileDType): void {
  const tensors = new Map<string, TensorToWrite>();
  for (const [name, t] of modelStateDict(model)) tensors.set(name, toWrite(t, dtype));
  writeSafetensors(join(dir, "model.safetensors"), tensors, { format: "pt" });
  for (const f of MODEL_SIDE_FILES) {
    if (existsSync(join(sourceDir, f))) copyFileSync(join(sourceDir, f), join(dir, f));
  }
}
