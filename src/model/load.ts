/**
 * Loading a Hugging Face model directory (config.json + safetensors weights, single or sharded) into a
 * LlamaModel with weights kept in f32 or bf16.
 */
import { existsSync, statSync } from "node:fs";
import { LoratuneError } from "../errors.ts";
import { loadModelWeights } from "../io/model-weights.ts";
import type { StorageDType } from "../io/safetensors.ts";
import { readModelConfig } from "./config.ts";
import { assembleModel, type LlamaModel } from "./llama.ts";

export interface LoadModelOptions {
  /** How base weights are kept in memory (default f32). Norms and biases are always f32. */
  dtype?: StorageDType;
}

export function loadModel(dir: string, options: LoadModelOptions = {}): LlamaModel {
  if (!existsSync(dir) || !statSync(dir).isDirectory()) {
    throw new LoratuneError("ERR_IO", `${dir}: model directory not found`);
  }
  const dtype = options.dtype ?? "f32";
  const config = readModelConfig(dir);
  const tensors = loadModelWeights(dir, dtype);
  return assembleModel(config, tensors, dtype, dir);
}
