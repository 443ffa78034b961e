/**
 * PEFT adapter directories, exactly as Hugging Face PEFT writes and reads them:
 * adapter_config.json (peft_type "LORA", task_type "CAUSAL_LM", r, lora_alpha, …; unknown keys ignored on read)
 * and adapter_model.safetensors (metadata {"format": "pt"}) with keys
 * base_model.model.<module>.lora_A.weight [r, in] and .lora_B.weight [out, r].
 * Loading is strict: every missing, unexpected or mis-shaped key is listed in one error.
 */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { LoratuneError } from "../errors.ts";
import { attachLora, loraTensors } from "../lora/adapter.ts";
import { type LoraConfig, validateLoraConfig } from "../lora/config.ts";
import type { LlamaModel } from "../model/llama.ts";
import { writeFileAtomic } from "./atomic.ts";
import { readSafetensors, type TensorToWrite, writeSafetensors } from "./safetensors.ts";

export const ADAPTER_CONFIG = "adapter_config.json";
export const ADAPTER_WEIGHTS = "adapter_model.safetensors";

/** The adapter_config.json PEFT writes for a LoRA causal-LM adapter. */
export function peftConfigJson(c: LoraConfig, baseModel: string | null): Record<string, unknown> {
  return {
    alpha_pattern: c.alphaPattern,
    auto_mapping: null,
    base_model_name_or_path: baseModel,
    bias: "none",
    fan_in_fan_out: false,
    inference_mode: true,
    init_lora_weights: c.initLoraWeights,
    layers_pattern: null,
    layers_to_transform: c.layersToTransform,
    lora_alpha: c.loraAlpha,
    lora_dropout: c.loraDropout,
    modules_to_save: null,
    peft_type: "LORA",
    r: c.r,
    rank_pattern: c.rankPattern,
    revision: null,
    target_modules: typeof c.targetModules === "string" ? c.targetModules : [...c.targetModules].sort(),
    task_type: "CAUSAL_LM",
    use_dora: false,
    use_rslora: c.useRslora,
  };
}

/** Writes the model's attached LoRA weights as a PEFT adapter directory (each file written atomically). */
export function saveAdapter(dir: string, model: LlamaModel, config: LoraConfig, baseModel: string | null): void {
  const tensors = new Map<string, TensorToWrite>();
  for (const p of loraTensors(model)) tensors.set(p.name, { dtype: "F32", shape: p.shape, data: p.data });
  if (tensors.size === 0) throw new LoratuneError("ERR_ADAPTER_KEYS", `${dir}: the model has no LoRA weights to save`);
  writeSafetensors(join(dir, ADAPTER_WEIGHTS), tensors, { format: "pt" });
  writeFileAtomic(join(dir, ADAPTER_CONFIG), `${JSON.stringify(peftConfigJson(config, baseModel), null, 2)}\n`);
}

/** Reads and validates adapter_config.json. */
export function readAdapterConfig(dir: string): LoraConfig {
  const path = join(dir, ADAPTER_CONFIG);
  if (!existsSync(path))
    throw new LoratuneError("ERR_ADAPTER_CONFIG", `${dir}: not a PEFT adapter directory (no ${ADAPTER_CONFIG})`);
  let raw: Record<string, unknown>;
  try {
    raw = JSON.parse(readFileSync(path, "utf8"));
  } catch (err) {
    throw new LoratuneError("ERR_ADAPTER_CONFIG", `${path}: not valid JSON (${(err as Error).message})`);
  }
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) {
    throw new LoratuneError("ERR_ADAPTER_CONFIG", `${path}: expected a JSON object`);
  }
  return parsePeftConfig(raw, path);
}

export function parsePeftConfig(raw: Record<string, unknown>, path: string): LoraConfig {
  const fail = (msg: string): never => {
    throw new LoratuneError("ERR_ADAPTER_CONFIG", `${path}: ${msg}`);
  };
  if (raw.peft_type !== "LORA")
    fail(`peft_type is ${JSON.stringify(raw.peft_type)}; only "LORA" adapters are supported`);
  if (raw.use_dora === true) fail("use_dora is true; DoRA adapters are not supported");
  if (raw.fan_in_fan_out === true)
    fail("fan_in_fan_out is true; Llama-family linears store [out, in], so this adapter is not for this model family");
  if (raw.bias != null && raw.bias !== "none") fail(`bias is "${raw.bias}"; only "none" is supported`);
  if (Array.isArray(raw.modules_to_save) && raw.modules_to_save.length > 0) {
    fail(`modules_to_save (${raw.modules_to_save.join(", ")}) is not supported`);
  }
  const targets = raw.target_modules;
  if (!(typeof targets === "string" || (Array.isArray(targets) && targets.every((t) => typeof t === "string")))) {
    fail("target_modules must be a string or a list of strings");
  }
  let layers: number[] | null = null;
  if (typeof raw.layers_to_transform === "number") layers = [raw.layers_to_transform];
  else if (Array.isArray(raw.layers_to_transform)) layers = raw.layers_to_transform as number[];
  const init = raw.init_lora_weights;
  const config: LoraConfig = {
    r: raw.r as number,
    loraAlpha: (raw.lora_alpha ?? 8) as number,
    loraDropout: (raw.lora_dropout ?? 0) as number,
    targetModules: targets as string[] | string,
    useRslora: raw.use_rslora === true,
    layersToTransform: layers,
    initLoraWeights: init === false || init === "gaussian" ? init : true,
    rankPattern: (raw.rank_pattern ?? {}) as Record<string, number>,
    alphaPattern: (raw.alpha_pattern ?? {}) as Record<string, number>,
  };
  validateLoraConfig(config, path);
  return config;
}

/**
 * Attaches the adapter in `dir` to the model and loads its weights. Strict: the set of keys and their shapes
 * must equal what the config implies for this model; every difference is listed.
 */
export function loadAdapter(dir: string, model: LlamaModel, withGrad = false): LoraConfig {
  const config = readAdapterConfig(dir);
  const weightsPath = join(dir, ADAPTER_WEIGHTS);
  if (!existsSync(weightsPath)) {
    throw new LoratuneError(
      "ERR_ADAPTER_KEYS",
      `${dir}: no ${ADAPTER_WEIGHTS} (adapter_model.bin pickles are never loaded)`,
    );
  }
  const tensors = readSafetensors(weightsPath, "f32");
  attachLora(model, config, () => 0.5, withGrad);
  const expected = loraTensors(model);
  const problems: string[] = [];
  const seen = new Set<string>();
  for (const p of expected) {
    const key = p.name;
    const t = tensors.get(key) ?? tensors.get(key.replace(/\.weight$/, ".default.weight"));
    seen.add(key);
    if (!t) {
      problems.push(`missing ${key} [${p.shape.join(", ")}]`);
      continue;
    }
    if (t.shape.length !== p.shape.length || t.shape.some((d, i) => d !== p.shape[i])) {
      problems.push(`${key} has shape [${t.shape.join(", ")}], expected [${p.shape.join(", ")}]`);
      continue;
    }
    p.data.set(t.data as Float32Array);
  }
  for (const key of tensors.keys()) {
    if (!seen.has(key) && !seen.has(key.replace(/\.default\.weight$/, ".weight"))) problems.push(`unexpected ${key}`);
  }
  if (problems.length > 0) {
    throw new LoratuneError(
      "ERR_ADAPTER_KEYS",
      `${weightsPath}: the adapter does not fit this model:\n  ${problems.join("\n  ")}`,
    );
  }
  return config;
}
