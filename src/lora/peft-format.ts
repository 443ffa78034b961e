/**
 * The contents of a PEFT adapter directory, without the file system (peft-files.ts writes them; the browser page
 * offers the same two files for download): adapter_config.json's JSON and adapter_model.safetensors' tensors
 * (metadata {"format": "pt"}), keyed base_model.model.<module>.<tensor> (LoRA: lora_A.weight [r, in] and
 * lora_B.weight [out, r]), with modules_to_save and trainable token rows when the adapter has them.
 */
import { LoratuneError } from "../errors.ts";
import type { TensorToWrite } from "../io/safetensors-format.ts";
import type { Model } from "../model/model.ts";
import { adaptedLinears } from "./adapter.ts";
import { adapterToSave } from "./convert-init.ts";
import type { AdapterConfig } from "./method.ts";
import { moduleTensors, resolveModulesToSave, type SavedModule } from "./modules-to-save.ts";
import { methodOf } from "./registry.ts";
import { tokenRowTensors } from "./trainable-tokens.ts";

export const ADAPTER_CONFIG = "adapter_config.json";
export const ADAPTER_WEIGHTS = "adapter_model.safetensors";

/** The adapter_config.json PEFT writes for the adapter attached to `model` with `config`. */
export function peftConfigJson(config: AdapterConfig, model: Model, baseModel: string | null): Record<string, unknown> {
  return methodOf(config).configJson(config, model, adaptedLinears(model), baseModel);
}

/** An adapter directory's two files, as written. */
export interface AdapterFileContents {
  /** adapter_model.safetensors' tensors (F32) by PEFT key. */
  weights: Map<string, TensorToWrite>;
  /** adapter_model.safetensors' metadata. */
  metadata: Record<string, string>;
  /** adapter_config.json's text (indented JSON and a final newline). */
  configText: string;
}

/**
 * The adapter attached to `model` as PEFT's two files. An adapter initialised from the base weight (PiSSA, OLoRA)
 * comes out converted, relative to the original base (convert-init.ts). `where` names the destination in errors.
 */
export function adapterFileContents(
  model: Model,
  config: AdapterConfig,
  baseModel: string | null,
  where: string,
): AdapterFileContents {
  const saved = adapterToSave(model, config);
  const weights = new Map<string, TensorToWrite>();
  for (const p of saved.tensors) weights.set(p.name, { dtype: "F32", shape: p.shape, data: p.data });
  for (const p of moduleTensors(model, savedModules(model, config))) {
    weights.set(p.name, { dtype: "F32", shape: p.shape, data: p.data });
  }
  for (const p of tokenRowTensors(model, config.trainableTokenIndices ?? {})) {
    weights.set(p.name, { dtype: "F32", shape: p.shape, data: p.data });
  }
  if (weights.size === 0)
    throw new LoratuneError("ERR_ADAPTER_KEYS", `${where}: the model has no adapter weights to save`);
  const json = peftConfigJson(saved.config, model, baseModel);
  return { weights, metadata: { format: "pt" }, configText: `${JSON.stringify(json, null, 2)}\n` };
}

/** The modules an adapter config saves whole (PEFT's modules_to_save), resolved against the model. */
export function savedModules(model: Model, config: AdapterConfig): SavedModule[] {
  return config.modulesToSave?.length ? resolveModulesToSave(model, config.modulesToSave, adaptedLinears(model)) : [];
}
