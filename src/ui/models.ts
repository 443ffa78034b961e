/**
 * The model picker's choices: the bundled demo, Hugging Face model folders (a config.json) and GGUF files found in
 * the workspace or named with --models, and the snapshots in the local Hugging Face cache (as org/name, which
 * `--model` resolves there). A choice's `value` is what `loratune train --model` takes; only listed values are
 * accepted from the page (a model is one the user named or put in the workspace).
 */
import { existsSync, readdirSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { hubCacheRoots } from "../io/hf-cache.ts";

export interface ModelChoice {
  /** The --model value. */
  value: string;
  label: string;
  kind: "demo" | "hf-dir" | "gguf" | "hf-cache";
}

/** How deep under the workspace models are looked for. */
const MODEL_DEPTH = 3;

export function listModels(workspace: string, named: readonly string[]): ModelChoice[] {
  const out: ModelChoice[] = [{ value: "demo", label: "demo (the bundled model)", kind: "demo" }];
  const seen = new Set<string>(["demo"]);
  const add = (c: ModelChoice) => {
    if (!seen.has(c.value)) out.push(c);
    seen.add(c.value);
  };
  for (const p of named) if (existsSync(p)) add(localChoice(p, p));
  scan(workspace, 0, (p) => add(localChoice(p, relative(workspace, p))));
  for (const id of cachedRepos()) add({ value: id, label: `${id} (Hugging Face cache)`, kind: "hf-cache" });
  return out;
}

function localChoice(path: string, label: string): ModelChoice {
  const gguf = path.endsWith(".gguf");
  return { value: path, label: `${label} (${gguf ? "GGUF" : "Hugging Face folder"})`, kind: gguf ? "gguf" : "hf-dir" };
}

function scan(dir: string, depth: number, found: (path: string) => void): void {
  let entries: import("node:fs").Dirent[];
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch {
    return;
  }
  // A run directory holds an adapter's config, not a model's; checkpoints are not models either.
  if (entries.some((e) => e.name === "loratune.json")) return;
  if (entries.some((e) => e.name === "config.json") && entries.some((e) => e.name.endsWith(".safetensors"))) {
    found(dir);
    return;
  }
  for (const e of entries) {
    if (e.name.startsWith(".") || e.name === "node_modules") continue;
    const p = join(dir, e.name);
    if (e.isFile() && e.name.endsWith(".gguf")) found(p);
    else if (e.isDirectory() && depth < MODEL_DEPTH) scan(p, depth + 1, found);
  }
}

/** org/name of every repository with a snapshot in the Hugging Face cache roots. */
function cachedRepos(): string[] {
  const ids: string[] = [];
  for (const root of hubCacheRoots()) {
    if (!existsSync(root)) continue;
    for (const name of readdirSync(root)) {
      const m = /^models--([^-].*?)--(.+)$/.exec(name);
      if (m && existsSync(join(root, name, "snapshots")) && statSync(join(root, name)).isDirectory())
        ids.push(`${m[1]}/${m[2]}`);
    }
  }
  return ids.sort();
}
