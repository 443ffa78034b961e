/**
 * model_type → family record. The built-in families are listed here; a family defined elsewhere (a plug-in, a
 * test fixture) adds itself with registerFamily before its models are loaded.
 */
import { LoratuneError } from "../../errors.ts";
import { previewJson } from "../../io/preview.ts";
import type { ModelConfig } from "../config.ts";
import { gemma } from "./gemma.ts";
import { gemma2 } from "./gemma2.ts";
import { gemma3Text } from "./gemma3.ts";
import { gpt2 } from "./gpt2.ts";
import { llama } from "./llama.ts";
import { mistral } from "./mistral.ts";
import { phi3 } from "./phi3.ts";
import { qwen2 } from "./qwen2.ts";
import { qwen3 } from "./qwen3.ts";
import type { ModelFamily } from "./spec.ts";

const byType = new Map<string, ModelFamily>();

/** Makes `family` read its model_types; a model_type already taken by another family is refused. */
export function registerFamily<L, T>(family: ModelFamily<L, T>): void {
  for (const type of family.modelTypes) {
    const taken = byType.get(type);
    if (taken !== undefined && taken !== family) {
      throw new Error(`model_type "${type}" is already read by the ${taken.name} family`);
    }
  }
  for (const type of family.modelTypes) byType.set(type, family as ModelFamily);
}

for (const family of [llama, mistral, qwen2, qwen3]) registerFamily(family);
registerFamily(gpt2);
registerFamily(gemma);
registerFamily(gemma2);
registerFamily(gemma3Text);
registerFamily(phi3);

/** Every model_type a family reads, in registration order. */
export function supportedModelTypes(): string[] {
  return [...byType.keys()];
}

/** The family that reads `modelType`; ERR_UNSUPPORTED naming `where` otherwise. */
export function familyForType(modelType: string, where: string): ModelFamily {
  const family = byType.get(modelType);
  if (family === undefined) {
    throw new LoratuneError(
      "ERR_UNSUPPORTED",
      `${where}: model_type ${previewJson(modelType)} is not supported (supported: ${supportedModelTypes().join(", ")})`,
    );
  }
  return family;
}

/** Every GGUF architecture (general.architecture) a family reads, in registration order. */
export function supportedGgufArchs(): string[] {
  return [...new Set([...byType.values()].flatMap((f) => (f.gguf ? [f.gguf.arch] : [])))];
}

/**
 * The family that reads GGUF files of llama.cpp's architecture `arch` (the first registered: "llama" files,
 * which llama.cpp also writes for Mistral, read as llama); ERR_UNSUPPORTED naming `where` and the supported ones.
 */
export function familyForGgufArch(arch: string, where: string): ModelFamily {
  const family = [...byType.values()].find((f) => f.gguf?.arch === arch);
  if (family === undefined) {
    throw new LoratuneError(
      "ERR_UNSUPPORTED",
      `${where}: general.architecture ${previewJson(arch)} is not supported (supported: ${supportedGgufArchs().join(", ")})`,
    );
  }
  return family;
}

/** The family of a parsed config. */
export function familyOf(config: ModelConfig): ModelFamily {
  return familyForType(config.modelType, "model config");
}
