/**
 * Loading a Hugging Face model directory (config.json + safetensors weights, single or sharded) into a
 * LlamaModel with weights kept in f32 or bf16. `demo` names the bundled demo model.
 */
import { existsSync, statSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { LoratuneError } from "../errors.ts";
import { loadModelWeights, openModelWeights } from "../io/model-weights.ts";
import type { FileDType } from "../io/safetensors.ts";
import { getKernels } from "../kernels/index.ts";
import type { StorageDType, StoredTensor } from "../tensor/stored-tensor.ts";
import { type ModelConfig, readModelConfig } from "./config.ts";
import { assembleModel, type LlamaModel } from "./llama.ts";

export interface LoadModelOptions {
  /** How base weights are kept in memory (default f32). Norms and biases are always f32. */
  dtype?: StorageDType;
  /**
   * Positions the RoPE tables cover (default: max_position_embeddings, capped at 32768 so a config with a huge
   * context does not allocate gigabytes of tables; training passes its sequence length).
   */
  ropePositions?: number;
}

/** The bundled demo model's directory. */
export const DEMO_MODEL_DIR = fileURLToPath(new URL("../../models/demo", import.meta.url));

/** Maps a --model value to a directory: "demo" is the bundled model, anything else a path. */
export function resolveModelDir(nameOrPath: string): string {
  return nameOrPath === "demo" ? DEMO_MODEL_DIR : nameOrPath;
}

export function loadModel(nameOrPath: string, options: LoadModelOptions = {}): LlamaModel {
  const dir = resolveModelDir(nameOrPath);
  if (!existsSync(dir) || !statSync(dir).isDirectory()) {
    throw new LoratuneError("ERR_IO", `${dir}: model directory not found`);
  }
  // Loading the kernels first lets the native loader install the address probe, so the weights read below
  // start on cache lines (src/tensor/aligned.ts).
  getKernels();
  const dtype = options.dtype ?? "f32";
  const config = readModelConfig(dir);
  const sourceDtype = checkpointDtype(dir, config);
  const tensors = tieEmbeddingAlias(config, loadModelWeights(dir, dtype));
  const positions = Math.min(config.maxPositions, options.ropePositions ?? 32768);
  return assembleModel(config, tensors, dtype, dir, positions, sourceDtype);
}

const EMBED = "model.embed_tokens.weight";
const HEAD = "lm_head.weight";

/**
 * A tied model stores its one embedding table under one name. transformers writes model.embed_tokens.weight,
 * but some exporters keep only lm_head.weight (safetensors' removal of shared tensors may keep either name, and
 * may note the other in __metadata__). With tie_word_embeddings and no embed_tokens, lm_head.weight is used as
 * the embedding (and so as the head). An untied model still needs both (assembleModel lists what is missing).
 */
export function tieEmbeddingAlias(config: ModelConfig, tensors: Map<string, StoredTensor>): Map<string, StoredTensor> {
  if (!config.tieWordEmbeddings || tensors.has(EMBED)) return tensors;
  const head = tensors.get(HEAD);
  if (head !== undefined) {
    tensors.set(EMBED, head);
    tensors.delete(HEAD);
  }
  return tensors;
}

/** The on-disk dtype of the embedding table (the checkpoint's dtype); for a tied model it may be lm_head's. */
function checkpointDtype(dir: string, config: ModelConfig): FileDType {
  const stored = openModelWeights(dir).tensors;
  const info = (stored.get(EMBED) ?? (config.tieWordEmbeddings ? stored.get(HEAD) : undefined))?.info;
  return info && (info.dtype === "BF16" || info.dtype === "F16") ? info.dtype : "F32";
}
