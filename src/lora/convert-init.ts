/**
 * What is saved for an adapter initialised from the base weight (PiSSA, OLoRA; lora/weight-init.ts): the plain
 * LoRA of rank 2r, relative to the original base, that PEFT's save_pretrained writes with
 * path_initial_model_for_weight_conversion. Other adapters are saved as they are.
 */

import type { Model } from "../model/model.ts";
import { adaptedLinears, adapterTensors, attachedAdapter, peftKey } from "./adapter.ts";
import { isLoraConfig, moduleRankAndScale } from "./config.ts";
import type { AdapterConfig } from "./method.ts";
import { convertedConfig, convertedFactors, type InitialFactors, initFromWeight } from "./weight-init.ts";

/** A tensor as saved: PEFT key, shape, f32 values. */
export interface SavedTensor {
  name: string;
  shape: number[];
  data: Float32Array;
}

/** The config and tensors to save for the adapter attached to `model` with `config`. */
export function adapterToSave(model: Model, config: AdapterConfig): { config: AdapterConfig; tensors: SavedTensor[] } {
  if (!isLoraConfig(config) || !initFromWeight(config.initLoraWeights)) {
    return { config, tensors: adapterTensors(model) };
  }
  const tensors: SavedTensor[] = [];
  for (const lin of adaptedLinears(model)) {
    const adapter = attachedAdapter(lin)!;
    const initial = (adapter as { initial?: InitialFactors | null }).initial;
    const [A, B] = adapter.tensors;
    if (!initial || !A || !B) {
      throw new Error(
        `${lin.name}: initialised by ${String(config.initLoraWeights)} but its initial A and B were not kept`,
      );
    }
    const r = moduleRankAndScale(config, lin.name).r;
    const c = convertedFactors(A.data, B.data, initial, r);
    tensors.push({ name: peftKey(lin, "lora_A.weight"), shape: [2 * r, c.nIn], data: c.A });
    tensors.push({ name: peftKey(lin, "lora_B.weight"), shape: [c.nOut, 2 * r], data: c.B });
  }
  return { config: convertedConfig(config), tensors };
}
