/**
 * LoRA configuration with PEFT's field names and semantics, and PEFT's target-module matching (shared by every
 * adapter method):
 * - a list entry matches a module name equal to it or ending in "." + entry;
 * - a string is a full-match regular expression;
 * - "all-linear" is every linear layer except the output head;
 * - layers_to_transform restricts matches to those layer indices (with layers_pattern, the index after
 *   "<pattern>." in the module name, as PEFT reads it; otherwise the family's block index);
 * - rank_pattern / alpha_pattern override r / lora_alpha for modules whose name matches `(.*\.)?(key)$`.
 */
import { LoratuneError } from "../errors.ts";
import { describeValue, previewJson } from "../io/preview.ts";
import { llama } from "../model/arch/llama.ts";
import type { ModelFamily } from "../model/arch/spec.ts";
import type { AdapterConfig } from "./method.ts";

/**
 * PEFT's init_lora_weights: true (A kaiming-uniform, B zero), false (both random: not an identity, for tests),
 * "gaussian" (A ~ N(0, 1/r), B zero), or from the base weight (lora/weight-init.ts): "pissa", "pissa_niter_N"
 * (N ≥ 1) and "olora".
 */
export type InitLoraWeights = boolean | "gaussian" | "pissa" | `pissa_niter_${number}` | "olora";

/** Whether a value is one of InitLoraWeights' (a string other than these is not). */
export function isInitLoraWeights(v: unknown): v is InitLoraWeights {
  return (
    typeof v === "boolean" ||
    v === "gaussian" ||
    v === "pissa" ||
    v === "olora" ||
    /^pissa_niter_[1-9]\d*$/.test(String(v))
  );
}

export interface LoraConfig extends AdapterConfig {
  r: number;
  loraAlpha: number;
  loraDropout: number;
  useRslora: boolean;
  initLoraWeights: InitLoraWeights;
  rankPattern: Record<string, number>;
  alphaPattern: Record<string, number>;
  /**
   * PEFT's fan_in_fan_out as an adapter file gave it (true: the base stores the adapted weights [in, out], as
   * GPT-2's Conv1D); a wrong one is set to the model's layout on attach, with PEFT's warning; null for a fresh
   * adapter. What is written is always the model's own layout (the family's `transposed` specs).
   */
  fanInFanOut: boolean | null;
}

/** Whether an adapter config is LoRA's (or a LoRA variant's: the settings rank, alpha, dropout … apply). */
export function isLoraConfig(c: AdapterConfig): c is LoraConfig {
  const l = c as Partial<LoraConfig>;
  return typeof l.r === "number" && typeof l.loraAlpha === "number" && typeof l.loraDropout === "number";
}

/**
 * A fresh LoRA config: PEFT's defaults (r 8, alpha 16, no dropout), target_modules the family's default
 * (`defaultTargets` of its record; the Llama record's when no family is given), then `overrides`.
 */
export function defaultLoraConfig(
  overrides: Partial<LoraConfig> = {},
  family: Pick<ModelFamily, "defaultTargets"> = llama,
): LoraConfig {
  const config: LoraConfig = {
    method: "lora",
    r: 8,
    loraAlpha: 16,
    loraDropout: 0,
    targetModules: [...family.defaultTargets],
    useRslora: false,
    layersToTransform: null,
    initLoraWeights: true,
    rankPattern: {},
    alphaPattern: {},
    fanInFanOut: null,
    ...overrides,
  };
  validateLoraConfig(config, "LoRA settings");
  return config;
}

export function validateLoraConfig(c: LoraConfig, where: string): void {
  const bad = (msg: string): never => {
    throw new LoratuneError("ERR_ADAPTER_CONFIG", `${where}: ${msg}`);
  };
  if (!Number.isInteger(c.r) || c.r <= 0) bad(`r must be a positive integer (got ${c.r})`);
  if (!(Number.isFinite(c.loraAlpha) && c.loraAlpha > 0))
    bad(`lora_alpha must be a positive number (got ${c.loraAlpha})`);
  if (!(c.loraDropout >= 0 && c.loraDropout < 1)) bad(`lora_dropout must be in [0, 1) (got ${c.loraDropout})`);
  if (Array.isArray(c.targetModules) && c.targetModules.length === 0) bad("target_modules is empty");
  if (
    typeof c.targetModules === "string" &&
    c.targetModules !== "all-linear" &&
    !usablePattern(`^(?:${c.targetModules})$`)
  ) {
    bad(
      `target_modules "${c.targetModules.slice(0, 80)}" is not a usable regular expression (invalid, or over ${MAX_PATTERN})`,
    );
  }
  for (const [key, r] of Object.entries(c.rankPattern)) {
    if (!Number.isInteger(r) || r <= 0) bad(`rank_pattern["${key}"] must be a positive integer`);
  }
  for (const [key, a] of Object.entries(c.alphaPattern)) {
    if (!(Number.isFinite(a) && a > 0)) bad(`alpha_pattern["${key}"] must be a positive number`);
  }
  for (const key of [...Object.keys(c.rankPattern), ...Object.keys(c.alphaPattern)]) {
    if (!usablePattern(`^(?:.*\\.)?(?:${key})$`))
      bad(`pattern key "${key.slice(0, 80)}" is not a usable regular expression`);
  }
  for (const p of c.layersPattern ?? []) {
    if (!usablePattern(`\\.${p}\\.(\\d+)\\.`))
      bad(`layers_pattern "${p.slice(0, 80)}" is not usable in a regular expression`);
  }
  if (!isInitLoraWeights(c.initLoraWeights)) {
    bad(
      `init_lora_weights ${JSON.stringify(c.initLoraWeights)} is not one of true, false, "gaussian", "pissa", "pissa_niter_N", "olora"`,
    );
  }
  if (c.method === "dora" && typeof c.initLoraWeights === "string" && c.initLoraWeights !== "gaussian") {
    bad(`init_lora_weights "${c.initLoraWeights}" with DoRA is not supported (its conversion on save is LoRA's)`);
  }
}

/** Longest module-name regular expression accepted (real ones are a few dozen characters). */
export const MAX_PATTERN = "10000 characters";

/**
 * Whether a pattern compiles AND runs: V8 compiles lazily, so some patterns only fail ("too large") on first use.
 */
export function usablePattern(source: string): boolean {
  if (source.length > 10_000) return false;
  try {
    new RegExp(source).test("model.layers.0.self_attn.q_proj");
    return true;
  } catch {
    return false;
  }
}

/** Parses the CLI's --targets value: "all-linear", a comma list of module names, or "re:<regex>". */
export function parseTargets(value: string): string[] | string {
  const v = value.trim();
  if (v === "all-linear") return v;
  if (v.startsWith("re:")) return v.slice(3);
  const names = v
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
  if (names.length === 0) throw new LoratuneError("ERR_USAGE", `--targets: expected module names, got "${value}"`);
  return names;
}

/**
 * PEFT's module selection from an adapter_config.json, as every method reads it: target_modules and
 * layers_to_transform (readTargetModules, readLayersToTransform). `fail` throws naming the file.
 */
export function readSelection(
  raw: Record<string, unknown>,
  fail: (msg: string) => never,
): Pick<AdapterConfig, "targetModules" | "layersToTransform" | "layersPattern"> {
  const layersPattern = readLayersPattern(raw, fail);
  return {
    targetModules: readTargetModules(raw, fail),
    layersToTransform: readLayersToTransform(raw, fail),
    ...(layersPattern ? { layersPattern } : {}),
  };
}

/** layers_pattern: null, a name ("layers"), or a list of names; each is used inside a regular expression. */
export function readLayersPattern(raw: Record<string, unknown>, fail: (msg: string) => never): string[] | null {
  const v = raw.layers_pattern;
  if (v == null) return null;
  const list = typeof v === "string" ? [v] : v;
  if (!Array.isArray(list) || !list.every((p) => typeof p === "string" && usablePattern(`\\.${p}\\.(\\d+)\\.`))) {
    fail(`layers_pattern must be a name or a list of names, usable in a regular expression (got ${describeValue(v)})`);
  }
  return (list as string[]).length > 0 ? (list as string[]) : null;
}

/** modules_to_save: null or a list of module names (an empty list is none). */
export function readModulesToSave(raw: Record<string, unknown>, fail: (msg: string) => never): string[] | null {
  const v = raw.modules_to_save;
  if (v == null) return null;
  if (!Array.isArray(v) || !v.every((m) => typeof m === "string" && m !== "")) {
    fail(`modules_to_save must be a list of module names (got ${describeValue(v)})`);
  }
  return (v as string[]).length > 0 ? [...(v as string[])] : null;
}

/** layers_pattern as PEFT writes it: null, one name, or the list. */
export function layersPatternJson(p: string[] | null | undefined): string | string[] | null {
  if (!p || p.length === 0) return null;
  return p.length === 1 ? p[0]! : [...p];
}

/** target_modules: a string (a full-match regular expression, or "all-linear") or a list of module names. */
export function readTargetModules(raw: Record<string, unknown>, fail: (msg: string) => never): string[] | string {
  const targets = raw.target_modules;
  if (!(typeof targets === "string" || (Array.isArray(targets) && targets.every((t) => typeof t === "string")))) {
    fail(`target_modules must be a string or a list of strings (got ${describeValue(targets)})`);
  }
  if (typeof targets === "string" && targets !== "all-linear" && !usablePattern(`^(?:${targets})$`)) {
    fail(`target_modules ${previewJson(targets)} is not a usable regular expression (invalid, or over ${MAX_PATTERN})`);
  }
  return targets as string[] | string;
}

/** layers_to_transform: null, one layer index, or a list of them. */
export function readLayersToTransform(raw: Record<string, unknown>, fail: (msg: string) => never): number[] | null {
  const v = raw.layers_to_transform;
  if (v == null) return null;
  const list = typeof v === "number" ? [v] : v;
  if (!Array.isArray(list) || !list.every((i) => Number.isInteger(i) && i >= 0)) {
    fail(`layers_to_transform must be a layer index or a list of them (got ${describeValue(v)})`);
  }
  return list as number[];
}

/**
 * Whether the adapter config adapts the linear module `name` of block `layer` (null outside the blocks; the
 * model's family knows which block a module is in, whatever its naming: "model.layers.3.", "transformer.h.3.").
 * Callers never pass the output head.
 */
export function matchesTarget(
  c: Pick<AdapterConfig, "targetModules" | "layersToTransform" | "layersPattern">,
  name: string,
  layer: number | null,
): boolean {
  if (name === "lm_head" || name.endsWith(".lm_head")) return false;
  let hit: boolean;
  if (c.targetModules === "all-linear") hit = true;
  else if (typeof c.targetModules === "string") hit = new RegExp(`^(?:${c.targetModules})$`).test(name);
  else hit = c.targetModules.some((t) => name === t || name.endsWith(`.${t}`));
  if (!hit || c.layersToTransform === null) return hit;
  const index = c.layersPattern?.length ? patternLayer(c.layersPattern, name) : layer;
  return index !== null && c.layersToTransform.includes(index);
}

/** PEFT: the number after the first of `patterns` followed by ".<digits>." in `name`, or null. */
function patternLayer(patterns: string[], name: string): number | null {
  for (const p of patterns) {
    const m = new RegExp(`^.*\\.${p}\\.(\\d+)\\.`).exec(name);
    if (m) return Number.parseInt(m[1]!, 10);
  }
  return null;
}

/** r and alpha for one module after rank_pattern / alpha_pattern, and its scaling factor. */
export function moduleRankAndScale(c: LoraConfig, name: string): { r: number; alpha: number; scale: number } {
  const r = patternValue(c.rankPattern, name) ?? c.r;
  const alpha = patternValue(c.alphaPattern, name) ?? c.loraAlpha;
  return { r, alpha, scale: c.useRslora ? alpha / Math.sqrt(r) : alpha / r };
}

function patternValue(pattern: Record<string, number>, name: string): number | undefined {
  for (const [key, value] of Object.entries(pattern)) {
    if (new RegExp(`^(?:.*\\.)?(?:${key})$`).test(name)) return value;
  }
  return undefined;
}
