/**
 * Ollama's model store, read-only: `ollama:NAME[:TAG]` names the GGUF file Ollama keeps for a pulled model.
 *
 * Ollama keeps models under $OLLAMA_MODELS (default ~/.ollama/models; a Linux service install uses
 * /usr/share/ollama/.ollama/models): manifests/<registry>/<namespace>/<model>/<tag> is a JSON image manifest whose
 * layer of media type application/vnd.ollama.image.model is the GGUF weights, stored as blobs/sha256-<hex> (no
 * extension). Short names fill in as `ollama pull` does: "llama3.2" is registry.ollama.ai/library/llama3.2:latest,
 * "user/model:tag" is registry.ollama.ai/user/model:tag.
 */
import { existsSync, readdirSync, statSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import { LoratuneError } from "../errors.ts";
import { readJsonObject } from "./json-file.ts";

export const OLLAMA_PREFIX = "ollama:";

const MODEL_LAYER = "application/vnd.ollama.image.model";
const DEFAULT_REGISTRY = "registry.ollama.ai";

/** Where Ollama keeps its models: $OLLAMA_MODELS, else the first of the usual places that exists. */
export function ollamaModelsDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.OLLAMA_MODELS) return env.OLLAMA_MODELS;
  const candidates = [join(homedir(), ".ollama", "models"), "/usr/share/ollama/.ollama/models"];
  return candidates.find((d) => existsSync(join(d, "manifests"))) ?? candidates[0]!;
}

/** The manifest path parts of a model name: [registry, namespace, model, tag]. */
export function ollamaNameParts(name: string): [string, string, string, string] {
  const colon = name.lastIndexOf(":");
  const slash = name.lastIndexOf("/");
  const [path, tag] = colon > slash ? [name.slice(0, colon), name.slice(colon + 1)] : [name, "latest"];
  const parts = path.split("/");
  const ok = parts.length <= 3 && parts.every((p) => /^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(p)) && /^[\w.-]+$/.test(tag);
  if (!ok || path === "") {
    throw new LoratuneError(
      "ERR_USAGE",
      `--model ollama:${name}: expected an Ollama model name such as ollama:llama3.2, ollama:qwen2.5:0.5b or ollama:user/model:tag`,
    );
  }
  if (parts.length === 1) return [DEFAULT_REGISTRY, "library", parts[0]!, tag];
  if (parts.length === 2) return [DEFAULT_REGISTRY, parts[0]!, parts[1]!, tag];
  return [parts[0]!, parts[1]!, parts[2]!, tag];
}

/** The GGUF blob of Ollama model `name` (what follows "ollama:"). Errors say what is pulled, and where. */
export function resolveOllamaModel(name: string, env: NodeJS.ProcessEnv = process.env): string {
  const store = ollamaModelsDir(env);
  const [registry, namespace, model, tag] = ollamaNameParts(name);
  const manifest = join(store, "manifests", registry, namespace, model, tag);
  if (!existsSync(manifest)) {
    const pulled = pulledModels(store);
    const have = pulled.length ? `pulled there: ${pulled.slice(0, 12).join(", ")}` : "nothing is pulled there";
    throw new LoratuneError(
      "ERR_IO",
      `--model ollama:${name}: no such model in Ollama's store ${store} (${have}; set OLLAMA_MODELS to another store, or run: ollama pull ${name})`,
    );
  }
  const layers = readJsonObject(manifest, "ERR_IO").layers;
  const layer = Array.isArray(layers)
    ? (layers as unknown[]).find((l) => isObject(l) && l.mediaType === MODEL_LAYER)
    : undefined;
  const digest = isObject(layer) ? layer.digest : undefined;
  if (typeof digest !== "string" || !/^sha256:[0-9a-f]{64}$/.test(digest)) {
    throw new LoratuneError(
      "ERR_IO",
      `${manifest}: expected a layer of media type ${MODEL_LAYER} with a sha256 digest`,
    );
  }
  const blob = join(store, "blobs", digest.replace(":", "-"));
  if (!existsSync(blob) || !statSync(blob).isFile()) {
    throw new LoratuneError("ERR_IO", `${manifest}: its model layer ${blob} is missing (pull the model again)`);
  }
  return blob;
}

const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === "object";

/** Model names pulled into the store, as `ollama list` shows them (short for the default registry). */
function pulledModels(store: string): string[] {
  const root = join(store, "manifests");
  const names: string[] = [];
  const walk = (dir: string, parts: string[]) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const next = [...parts, entry.name];
      if (entry.isDirectory() && next.length < 4) walk(join(dir, entry.name), next);
      else if (entry.isFile() && next.length === 4) names.push(shortName(next));
    }
  };
  if (existsSync(root)) walk(root, []);
  return names.sort();
}

function shortName([registry, namespace, model, tag]: string[]): string {
  const path =
    registry !== DEFAULT_REGISTRY
      ? `${registry}/${namespace}/${model}`
      : namespace === "library"
        ? model!
        : `${namespace}/${model}`;
  return `${path}:${tag}`;
}
