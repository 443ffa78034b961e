/** Loading a model (and optionally a PEFT adapter and the tokenizer) for evaluation and generation. */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { loadAdapter } from "../io/peft.ts";
import type { StorageDType } from "../io/safetensors.ts";
import type { LoraConfig } from "../lora/config.ts";
import type { LlamaModel } from "../model/llama.ts";
import { loadModel, resolveModelDir } from "../model/load.ts";
import { loadTokenizer, type Tokenizer } from "../tokenizer/tokenizer.ts";

export interface LoadedModel {
  dir: string;
  model: LlamaModel;
  adapter: LoraConfig | null;
  tokenizer: Tokenizer | null;
}

export function loadForInference(o: {
  model: string;
  adapter?: string | undefined;
  dtype?: StorageDType;
  chatTemplate?: string;
}): LoadedModel {
  const dir = resolveModelDir(o.model);
  const model = loadModel(dir, { dtype: o.dtype ?? "f32" });
  const adapter = o.adapter ? loadAdapter(o.adapter, model, false) : null;
  const hasTokenizer = existsSync(join(dir, "tokenizer.json"));
  const tokenizer = hasTokenizer
    ? loadTokenizer(dir, o.chatTemplate ? { chatTemplateFile: o.chatTemplate } : {})
    : null;
  return { dir, model, adapter, tokenizer };
}
