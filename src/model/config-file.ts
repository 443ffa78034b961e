/**
 * Reading a model directory's config.json (parsing is config.ts, which the browser bundle uses without the file
 * system).
 */
import { existsSync, statSync } from "node:fs";
import { join } from "node:path";
import { LoratuneError } from "../errors.ts";
import { readJsonObject } from "../io/json-file.ts";
import { type ModelConfig, parseModelConfig } from "./config.ts";

/** Reads and parses `dir`/config.json. */
export function readModelConfig(dir: string): ModelConfig {
  const path = join(dir, "config.json");
  if (existsSync(dir) && !statSync(dir).isDirectory()) {
    throw new LoratuneError(
      "ERR_CONFIG",
      `${dir}: a file that is not a GGUF model (no GGUF magic); a model is a Hugging Face directory, a GGUF file, ollama:NAME or 'demo'`,
    );
  }
  if (!existsSync(path)) throw new LoratuneError("ERR_CONFIG", `${path}: no model config (config.json) in ${dir}`);
  return parseModelConfig(readJsonObject(path, "ERR_CONFIG"), path);
}
