/**
 * Train settings as files: reading a YAML/JSON `--config` (or a run's config.yaml), validating values against
 * the option table, and writing a run's resolved settings back as config.yaml with the same keys as the flags.
 *
 * Values are kept keyed by option key (kebab-case, e.g. "batch-size"). Path options read from a file are made
 * absolute against the file's folder; config.yaml stores them relative to the run directory, so a run and its
 * inputs can move together.
 */
import { readFileSync } from "node:fs";
import { dirname, isAbsolute, relative, resolve } from "node:path";
import { parse as parseYaml, stringify as toYaml } from "yaml";
import { LoratuneError } from "../errors.ts";
import { writeFileAtomic } from "../io/atomic.ts";
import { isHubCacheId } from "../io/hf-cache.ts";
import { OLLAMA_PREFIX } from "../io/ollama-store.ts";
import { closestMatch } from "../util/closest.ts";
import type { OptionDef, OptionValue, OptionValues } from "./options.ts";
import { TRAIN_OPTIONS, trainOption } from "./train-options.ts";

/** Options whose value is a comma-separated list (a YAML list is accepted too). */
const LIST_KEYS = new Set(["data", "targets", "layers"]);

/**
 * "demo" names the bundled model, "ollama:NAME" a model in Ollama's store and "org/name" with no such path
 * (relative to `base`) a model in the Hugging Face cache: names, never paths.
 */
const isModelName = (def: OptionDef, value: string, base: string) =>
  def.key === "model" && (value === "demo" || value.startsWith(OLLAMA_PREFIX) || isHubCacheId(value, base));

/** Maps each comma-separated path of a path option through `f`; `base` is the folder relative paths start from. */
function mapPaths(def: OptionDef, value: string, base: string, f: (p: string) => string): string {
  if (isModelName(def, value, base)) return value;
  return value
    .split(",")
    .map((p) => f(p.trim()))
    .join(",");
}

/** Reads a YAML or JSON config file: keys are option keys (kebab-case or snake_case); paths resolve from its folder. */
export function readConfigFile(path: string): OptionValues {
  return configValues(readRawConfig(path), path);
}

/** A YAML or JSON config file's mapping as parsed (an empty file is an empty mapping). */
export function readRawConfig(path: string): Record<string, unknown> {
  let raw: unknown;
  try {
    const text = readFileSync(path, "utf8");
    raw = path.endsWith(".json") ? JSON.parse(text) : parseYaml(text);
  } catch (err) {
    throw new LoratuneError("ERR_USAGE", `${path}: cannot read the config file (${(err as Error).message})`);
  }
  if (raw === null || raw === undefined) return {};
  if (typeof raw !== "object" || Array.isArray(raw))
    throw new LoratuneError("ERR_USAGE", `${path}: expected a mapping of option names to values`);
  return raw as Record<string, unknown>;
}

/** A config mapping's train option values (unknown keys refused, paths resolved against `path`'s folder). */
export function configValues(raw: Record<string, unknown>, path: string): OptionValues {
  const out: OptionValues = {};
  for (const [rawKey, value] of Object.entries(raw)) {
    const key = rawKey.replace(/_/g, "-");
    const def = trainOption(key);
    if (!def || key === "config" || key === "resume") {
      const names = TRAIN_OPTIONS.map((d) => d.key);
      const hint = closestMatch(key, names, 3);
      throw new LoratuneError(
        "ERR_USAGE",
        `${path}: unknown option "${rawKey}"${hint ? ` (did you mean "${hint}"?)` : ""}`,
      );
    }
    if (value === null) continue;
    if (Array.isArray(value) && !LIST_KEYS.has(key))
      throw new LoratuneError("ERR_USAGE", `${path}: "${rawKey}" takes one value, not a list`);
    const v = Array.isArray(value) ? value.join(",") : (value as OptionValue);
    out[key] =
      def.path && typeof v === "string" ? mapPaths(def, v, dirname(path), (p) => resolve(dirname(path), p)) : v;
  }
  return out;
}

/** A run's settings as config.yaml text: every setting (not the control options), paths relative to `runDir`. */
export function runConfigYaml(values: OptionValues, runDir: string): string {
  const out: Record<string, OptionValue> = {};
  for (const d of TRAIN_OPTIONS) {
    const v = values[d.key];
    if (d.control || v === undefined) continue;
    out[d.key] = d.path && typeof v === "string" ? mapPaths(d, v, ".", (p) => relativePath(runDir, p)) : v;
  }
  const header =
    "# loratune run settings: a valid --config (paths are relative to this file's folder).\n" +
    "# Continue this run: loratune train --resume <this folder>; repeat it: loratune train --config <this file> --out <new folder>\n";
  return header + toYaml(out);
}

/**
 * `p` relative to `from` when they are near each other (at most two folders up), else absolute; a relative
 * path always starts with "." so that it can never read as the bundled "demo".
 */
function relativePath(from: string, p: string): string {
  const rel = relative(resolve(from), resolve(p));
  if (isAbsolute(rel) || /^(\.\.[\\/]){3}/.test(rel)) return resolve(p);
  return rel.startsWith(".") ? rel : `./${rel}`;
}

export function writeRunConfig(runDir: string, values: OptionValues): void {
  writeFileAtomic(resolve(runDir, "config.yaml"), runConfigYaml(values, runDir));
}
