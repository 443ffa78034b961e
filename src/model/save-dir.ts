/**
 * Writing a model as a Hugging Face model directory (config.json, model.safetensors, tokenizer files copied from
 * the source), with weights in the source checkpoint's dtype, so it loads as a plain model anywhere.
 */
import { copyFileSync, existsSync } from "node:fs";
import { join } from "node:path";
import type { FileDType, TensorToWrite } from "../io/safetensors.ts";
import { writeSafetensors } from "../io/safetensors-write.ts";
import { valuesAsF32, weightFormat } from "../tensor/formats/index.ts";
import type { StoredTensor } from "../tensor/stored-tensor.ts";
import { transpose2d } from "./assemble.ts";
import type { Model } from "./model.ts";

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

/**
 * Every weight of the model under its Hugging Face name, in the file's layout (transposed specs transposed back;
 * the tied head is not stored, as transformers does).
 */
export function modelStateDict(model: Model): Map<string, StoredTensor> {
  const out = new Map<string, StoredTensor>();
  for (const spec of model.specs) {
    const t = model.tensors.get(spec.name)!;
    out.set(spec.name, spec.transposed ? transpose2d(t) : t);
  }
  return out;
}

/** The tensor as `dtype` in the file: its own bytes when its format is that dtype, else its values as f32. */
function toWrite(t: StoredTensor, dtype: FileDType): TensorToWrite {
  if (weightFormat(t.dtype).fileDType === dtype) return { dtype, shape: t.shape, data: t.data as Float32Array };
  const n = t.shape.reduce((a, b) => a * b, 1);
  return { dtype, shape: t.shape, data: valuesAsF32(t.dtype, t.data, n) };
}

/** Writes the model's files (weights in `dtype`, side files copied from `sourceDir`) into an existing `dir`. */
export function writeModelFiles(dir: string, model: Model, sourceDir: string, dtype: FileDType): void {
  const tensors = new Map<string, TensorToWrite>();
  for (const [name, t] of modelStateDict(model)) tensors.set(name, toWrite(t, dtype));
  writeSafetensors(join(dir, "model.safetensors"), tensors, { format: "pt" });
  for (const f of MODEL_SIDE_FILES) {
    if (existsSync(join(sourceDir, f))) copyFileSync(join(sourceDir, f), join(dir, f));
  }
}
