/** Loading a model (and optionally a PEFT adapter and the tokenizer) for evaluation and generation. */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { LoratuneError } from "../errors.ts";
import type { AdapterConfig } from "../lora/method.ts";
import { loadAdapter } from "../lora/peft-files.ts";
import { loadModel, resolveModelDir } from "../model/load.ts";
import type { Model } from "../model/model.ts";
import type { QuantizeChoice } from "../tensor/formats/index.ts";
import type { StorageDType } from "../tensor/stored-tensor.ts";
import { loadTokenizer, type Tokenizer } from "../tokenizer/tokenizer.ts";

/** The chat template a training run keeps next to its adapter (the template it was trained with). */
export const RUN_CHAT_TEMPLATE = "chat_template.jinja";

export interface LoadedModel {
  dir: string;
  model: Model;
  adapter: AdapterConfig | null;
  tokenizer: Tokenizer | null;
}

/**
 * Loads the model, the adapter and the tokenizer. The chat template is, in order: `chatTemplate` (a file),
 * the adapter directory's chat_template.jinja (a run trained with a template keeps it there), the model's own.
 */
export function loadForInference(o: {
  model: string;
  adapter?: string | undefined;
  dtype?: StorageDType;
  quantize?: QuantizeChoice | undefined;
  chatTemplate?: string | undefined;
}): LoadedModel {
  const dir = resolveModelDir(o.model);
  const model = loadModel(dir, { dtype: o.dtype ?? "f32", quantize: o.quantize });
  const hasTokenizer = existsSync(join(dir, "tokenizer.json"));
  if (o.chatTemplate !== undefined) {
    if (!existsSync(o.chatTemplate))
      throw new LoratuneError("ERR_USAGE", `--chat-template ${o.chatTemplate}: no such file`);
    if (!hasTokenizer) {
      throw new LoratuneError(
        "ERR_USAGE",
        `--chat-template needs the model's tokenizer, and ${dir} has no tokenizer.json`,
      );
    }
  }
  if (o.adapter && !existsSync(join(o.adapter, "adapter_config.json")) && existsSync(join(o.adapter, "config.json"))) {
    throw new LoratuneError(
      "ERR_USAGE",
      `${o.adapter} holds a whole model (a full fine-tuning run or a merged model), not an adapter: pass it as --model ${o.adapter}`,
    );
  }
  const adapter = o.adapter ? loadAdapter(o.adapter, model, false) : null;
  const template = chatTemplateFile(o.chatTemplate, o.adapter);
  const tokenizer = hasTokenizer ? loadTokenizer(dir, template ? { chatTemplateFile: template } : {}) : null;
  return { dir, model, adapter, tokenizer };
}

/** The chat template file to use instead of the model's, if any: an explicit file, else the adapter's. */
export function chatTemplateFile(explicit: string | undefined, adapterDir: string | undefined): string | undefined {
  if (explicit !== undefined) return explicit;
  if (adapterDir === undefined) return undefined;
  const kept = join(adapterDir, RUN_CHAT_TEMPLATE);
  return existsSync(kept) ? kept : undefined;
}
