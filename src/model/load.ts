/**
 * Loading a Hugging Face model directory (config.json + safetensors weights, single or sharded) into a Model
 * of its family, with weights kept in f32 or bf16. `demo` names the bundled demo model. config.json and each
 * weight file's header are read once per load.
 */
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { LoratuneError } from "../errors.ts";
import { isHubCacheId, resolveHubSnapshot } from "../io/hf-cache.ts";
import {
  loadModelWeights,
  type ModelWeightsIndex,
  openModelWeights,
  type WeightLocation,
} from "../io/model-weights.ts";
import { OLLAMA_PREFIX, resolveOllamaModel } from "../io/ollama-store.ts";
import type { FileDType, TensorTransform } from "../io/safetensors.ts";
import { getKernels } from "../kernels/index.ts";
import type { QuantizeChoice } from "../tensor/formats/index.ts";
import type { StorageDType, StoredTensor } from "../tensor/stored-tensor.ts";
import { familyOf } from "./arch/registry.ts";
import type { ModelFamily, ParamSpec } from "./arch/spec.ts";
import { assembleModel } from "./assemble.ts";
import type { ModelConfig } from "./config.ts";
import { readModelConfig } from "./config-file.ts";
import { isGgufPath, loadGgufModel } from "./load-gguf.ts";
import { embeddingSpec, type Model } from "./model.ts";
import { convertTensor, quantizeLinears, specQuantizedFormat } from "./quantize.ts";

export interface LoadModelOptions {
  /**
   * How base weights are kept in memory (default f32). Norms and biases are always f32. A GGUF file's float 2-D
   * tensors (F32, F16, BF16) follow it; its block-quantized tensors stay as stored.
   */
  dtype?: StorageDType;
  /**
   * Positions the RoPE tables cover (default: max_position_embeddings, capped at 32768 so a config with a huge
   * context does not allocate gigabytes of tables; training passes its sequence length).
   */
  ropePositions?: number;
  /** The directory's config.json as already read (readModelConfig), so that it is not read again (not for GGUF). */
  config?: ModelConfig;
  /** Quantize the linear weights on load (model/quantize.ts); the rest stays in `dtype`. */
  quantize?: QuantizeChoice | undefined;
}

/** The bundled demo model's directory. */
export const DEMO_MODEL_DIR = fileURLToPath(new URL("../../models/demo", import.meta.url));

/**
 * Maps a --model value to a path: "demo" is the bundled model's directory, "ollama:NAME[:TAG]" the GGUF file Ollama
 * keeps for that model (io/ollama-store.ts), an existing path itself (a model directory or a GGUF file), and
 * "org/name" that is no local path the snapshot in the Hugging Face cache at `revision` (default: refs/main;
 * io/hf-cache.ts). Anything else is returned as the path it names (the loaders say it is missing).
 */
export function resolveModelDir(nameOrPath: string, revision?: string): string {
  const cacheId = isHubCacheId(nameOrPath);
  if (revision !== undefined && !cacheId) {
    throw new LoratuneError(
      "ERR_USAGE",
      `--revision ${revision} picks a snapshot of a Hugging Face cache id (--model org/name); --model ${nameOrPath} is not one`,
    );
  }
  if (cacheId) return resolveHubSnapshot(nameOrPath, revision);
  if (nameOrPath === "demo") return DEMO_MODEL_DIR;
  if (nameOrPath.startsWith(OLLAMA_PREFIX)) return resolveOllamaModel(nameOrPath.slice(OLLAMA_PREFIX.length));
  return nameOrPath;
}

/** Loads a model directory, "demo", or a GGUF file (a path ending in .gguf: model/load-gguf.ts). */
export function loadModel(nameOrPath: string, options: LoadModelOptions = {}): Model {
  const path = resolveModelDir(nameOrPath);
  if (isGgufPath(path)) {
    const { dtype, ropePositions, quantize } = options;
    return loadGgufModel(path, {
      ...(dtype !== undefined ? { dtype } : {}),
      ...(ropePositions !== undefined ? { ropePositions } : {}),
      quantize,
    });
  }
  const dir = path;
  if (!existsSync(dir)) throw new LoratuneError("ERR_IO", `${dir}: model directory not found`);
  // Loading the kernels first lets the native loader install the address probe, so the weights read below
  // start on cache lines (src/tensor/aligned.ts).
  getKernels();
  const dtype = options.dtype ?? "f32";
  const config = options.config ?? readModelConfig(dir);
  const family = familyOf(config);
  const index = familyNames(openModelWeights(dir), family);
  const sourceDtype = checkpointDtype(config, index);
  // With --quantize each linear weight is quantized as soon as it is read, so the load never holds more than one
  // weight in `dtype` (an 8B model is never 16 GB of bf16 on its way to 5 GB of q4_k).
  const specs = new Map(family.params(config).map((s) => [s.name, s]));
  const choice = options.quantize;
  const rename = family.fileTensorName ?? ((name: string) => name);
  const onTensor = choice === undefined ? undefined : quantizeOnRead(specs, choice, rename);
  const tensors = tieEmbeddingAlias(config, loadModelWeights(index, dtype, onTensor));
  const positions = Math.min(config.maxPositions, options.ropePositions ?? 32768);
  const model = assembleModel(config, tensors, dtype, dir, positions, sourceDtype);
  if (options.quantize !== undefined) quantizeLinears(getKernels(), model, options.quantize);
  return model;
}

/**
 * The index keyed by the family's names for the file's tensors (ModelFamily.fileTensorName); tensors it calls no
 * weight are left out, so they are never read.
 */
function familyNames(index: ModelWeightsIndex, family: ModelFamily): ModelWeightsIndex {
  const rename = family.fileTensorName;
  if (rename === undefined) return index;
  const tensors = new Map<string, WeightLocation>();
  for (const [name, location] of index.tensors) {
    const renamed = rename(name);
    if (renamed !== null) tensors.set(renamed, location);
  }
  return { ...index, tensors };
}

/**
 * Quantizes a weight of `specs` as it is read (specQuantizedFormat: linears, embedding, head); others passes
 * unchanged. `rename`: the family's name of a file's tensor.
 */
function quantizeOnRead(
  specs: Map<string, ParamSpec>,
  choice: QuantizeChoice,
  rename: (fileName: string) => string | null,
): TensorTransform {
  return (fileName, t) => {
    const name = rename(fileName);
    const spec = name === null ? undefined : specs.get(name);
    return spec === undefined ? t : convertTensor(getKernels(), t, specQuantizedFormat(spec, choice, t.dtype));
  };
}

/** The embedding's name and the name a tied checkpoint may store it under instead. */
function embeddingNames(config: ModelConfig): { embed: string; head: string } {
  const family = familyOf(config);
  return { embed: embeddingSpec(family.params(config)).name, head: family.headName };
}

/**
 * A tied model stores its one embedding table under one name. transformers writes the embedding's name (Llama:
 * model.embed_tokens.weight), but some exporters keep only the head's (lm_head.weight): safetensors' removal of
 * shared tensors may keep either name, and may note the other in __metadata__. With tie_word_embeddings and no
 * embedding, the head's tensor is used as the embedding (and so as the head). An untied model still needs both
 * (assembleModel lists what is missing).
 */
export function tieEmbeddingAlias(config: ModelConfig, tensors: Map<string, StoredTensor>): Map<string, StoredTensor> {
  const { embed, head } = embeddingNames(config);
  if (!config.tieWordEmbeddings || tensors.has(embed)) return tensors;
  const stored = tensors.get(head);
  if (stored !== undefined) {
    tensors.set(embed, stored);
    tensors.delete(head);
  }
  return tensors;
}

/** The on-disk dtype of the embedding table (the checkpoint's dtype); for a tied model it may be the head's. */
function checkpointDtype(config: ModelConfig, index: ModelWeightsIndex): FileDType {
  const { embed, head } = embeddingNames(config);
  const stored = index.tensors;
  const info = (stored.get(embed) ?? (config.tieWordEmbeddings ? stored.get(head) : undefined))?.info;
  return info && (info.dtype === "BF16" || info.dtype === "F16") ? info.dtype : "F32";
}
