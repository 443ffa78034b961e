/**
 * A `--model` value as the commands read it: a Hugging Face model directory, "demo" (the bundled one), or a GGUF
 * file (a path ending in .gguf). For a GGUF file the config is the one its metadata amounts to, the tokenizer and
 * chat template come from its tokenizer.ggml.* metadata, and a model directory written from it (merge, a full
 * fine-tuning run) gets config.json, tokenizer.json, tokenizer_config.json and generation_config.json built from
 * the same metadata. An "org/name" that is no local path is the snapshot of that model in the Hugging Face cache
 * (io/hf-cache.ts), at --revision where a command takes one.
 */
import { existsSync } from "node:fs";
import { join, resolve } from "node:path";
import { writeFileAtomic } from "../io/atomic.ts";
import { isHubCacheId } from "../io/hf-cache.ts";
import type { ModelConfig } from "../model/config.ts";
import { readModelConfig } from "../model/config-file.ts";
import { resolveModelDir } from "../model/load.ts";
import { ggufHeldFormats, isGgufPath, readGgufModel } from "../model/load-gguf.ts";
import type { StorageDType } from "../tensor/formats/index.ts";
import { ggufTokenizerSources, loadGgufTokenizer } from "../tokenizer/gguf-tokenizer.ts";
import { loadTokenizer } from "../tokenizer/load-tokenizer.ts";
import type { LoadTokenizerOptions, Tokenizer } from "../tokenizer/tokenizer.ts";

export { isGgufPath } from "../model/load-gguf.ts";

/**
 * What an adapter records as its base_model_name_or_path: a cache id as given (PEFT's own form; it is found in the
 * cache again), else the absolute path of the model directory or file `path`.
 */
export function baseModelName(model: string, path: string): string {
  return isHubCacheId(model) ? model : resolve(path);
}

/** The model's config: config.json of a directory, or a GGUF file's metadata as config.json. */
export function readBaseConfig(model: string): ModelConfig {
  const path = resolveModelDir(model);
  return isGgufPath(path) ? readGgufModel(path).config : readModelConfig(path);
}

/** Whether the model has a tokenizer: tokenizer.json in a directory, tokenizer.ggml.model in a GGUF file. */
export function baseHasTokenizer(model: string): boolean {
  const path = resolveModelDir(model);
  if (!isGgufPath(path)) return existsSync(join(path, "tokenizer.json"));
  return readGgufModel(path).file.metadata.has("tokenizer.ggml.model");
}

/** The model's tokenizer (a directory's tokenizer.json, or a GGUF file's metadata). */
export function loadBaseTokenizer(model: string, opts: LoadTokenizerOptions = {}): Tokenizer {
  const path = resolveModelDir(model);
  return isGgufPath(path) ? loadGgufTokenizer(path, opts) : loadTokenizer(path, opts);
}

/** What the model lacks that text needs, for messages ("no tokenizer.json", "no tokenizer in its metadata"). */
export function missingTokenizerText(model: string): string {
  return isGgufPath(model) ? "has no tokenizer in its metadata (tokenizer.ggml.*)" : "has no tokenizer.json";
}

/** For a GGUF base: the format each tensor will be held in (the memory estimate); null for a directory. */
export function baseHeldFormats(model: string, dtype: StorageDType, quantize?: Parameters<typeof ggufHeldFormats>[2]) {
  const path = resolveModelDir(model);
  return isGgufPath(path) ? ggufHeldFormats(readGgufModel(path), dtype, quantize) : null;
}

/**
 * For a GGUF base, writes into model directory `dir` the files a Hugging Face directory has beside its weights:
 * config.json and the tokenizer's files, all from the metadata (nothing for a directory base, whose files are
 * copied with the weights).
 */
export function writeGgufSideFiles(dir: string, model: string): void {
  const path = resolveModelDir(model);
  if (!isGgufPath(path)) return;
  const header = readGgufModel(path);
  const json = (name: string, value: unknown) =>
    writeFileAtomic(join(dir, name), `${JSON.stringify(value, null, 2)}\n`);
  json("config.json", header.configJson);
  if (!header.file.metadata.has("tokenizer.ggml.model")) return;
  const sources = ggufTokenizerSources(header.file.metadata, path);
  json("tokenizer.json", sources.tokenizer);
  if (sources.config) json("tokenizer_config.json", sources.config);
  if (sources.generationConfig) json("generation_config.json", sources.generationConfig);
}
