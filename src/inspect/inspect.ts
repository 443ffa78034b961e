/**
 * `inspect`: what a directory holds, read from its files without loading any weights (headers only).
 * - a model directory (config.json + safetensors): family, size, dtype, vocabulary, shape, chat template, tying;
 * - a PEFT adapter directory (adapter_config.json + adapter_model.safetensors): LoRA settings, base model,
 *   trainable parameters;
 * - a training run directory (loratune.json of kind "run", or, for runs written before the marker existed,
 *   config.yaml + metrics.jsonl): the adapter (or full model), status, steps, best validation loss, settings.
 * - a GGUF file (inspect-gguf.ts): a model or a LoRA adapter, from its header.
 * Reports use snake_case keys, so `--json` prints them as they are.
 */
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { parse as parseYaml } from "yaml";
import { RUN_CHAT_TEMPLATE } from "../api/models.ts";
import { LoratuneError } from "../errors.ts";
import { readJsonObject } from "../io/json-file.ts";
import { openModelWeights } from "../io/model-weights.ts";
import { MARKER_FILE, type RunMarker, readMarker } from "../io/run-marker.ts";
import { readSafetensorsHeader } from "../io/safetensors.ts";
import { isLoraConfig } from "../lora/config.ts";
import { ADAPTER_CONFIG, ADAPTER_WEIGHTS } from "../lora/peft-files.ts";
import { parseAdapterConfig } from "../lora/registry.ts";
import { familyOf } from "../model/arch/registry.ts";
import { parseModelConfig } from "../model/config.ts";
import { resolveModelDir } from "../model/load.ts";
import { isGgufPath } from "../model/load-gguf.ts";
import { type MetricRow, parseMetricLine } from "../report/metrics.ts";
import { type GgufReport, inspectGguf } from "./inspect-gguf.ts";

export interface ModelReport {
  kind: "model";
  path: string;
  model_type: string;
  architectures: string[];
  /** Parameters stored in the weight files (a tied output head counted once). */
  parameters: number;
  /** Dtypes of the stored weights, most common first ("BF16"). */
  dtype: string[];
  weights_bytes: number;
  vocab_size: number;
  layers: number;
  hidden_size: number;
  intermediate_size: number;
  attention_heads: number;
  key_value_heads: number;
  head_dim: number;
  max_positions: number;
  tied_embeddings: boolean;
  tokenizer: boolean;
  chat_template: boolean;
  /** "merged-model" when loratune wrote it (loratune.json), else null. */
  written_by_loratune: string | null;
}

export interface AdapterReport {
  kind: "adapter";
  path: string;
  peft_type: "LORA";
  r: number;
  lora_alpha: number;
  /** The LoRA scale: lora_alpha / r, or lora_alpha / sqrt(r) with rsLoRA. */
  scale: number;
  lora_dropout: number;
  target_modules: string[] | string;
  use_rslora: boolean;
  /** DoRA (PEFT's use_dora): a lora_magnitude_vector per adapted module besides lora_A and lora_B. */
  use_dora: boolean;
  layers_to_transform: number[] | null;
  rank_pattern: Record<string, number>;
  alpha_pattern: Record<string, number>;
  /** PEFT's layers_pattern (with layers_to_transform), or null. */
  layers_pattern: string[] | null;
  /** PEFT's modules_to_save: modules saved whole beside the adapter (their values count in trainable_params). */
  modules_to_save: string[] | null;
  /** PEFT's trainable_token_indices: token rows the adapter holds, by module ("embed_tokens": [ids]), or null. */
  trainable_token_indices: Record<string, number[]> | null;
  base_model: string | null;
  /** Values in adapter_model.safetensors (every lora_A and lora_B, DoRA's magnitude vectors, modules_to_save). */
  trainable_params: number;
  adapted_modules: number;
  weights_dtype: string[];
  chat_template: boolean;
}

export interface RunReport {
  kind: "run";
  path: string;
  /** From loratune.json; "unknown" for a run written before loratune marked its runs. */
  status: NonNullable<RunMarker["status"]> | "unknown";
  marker: boolean;
  loratune_version: string | null;
  created: string | null;
  updated: string | null;
  error: string | null;
  steps_done: number | null;
  total_steps: number | null;
  last_loss: number | null;
  best_val_loss: number | null;
  best_val_step: number | null;
  /** LoRA runs: the adapter; full fine-tuning runs: the model they wrote. */
  adapter: AdapterReport | null;
  model: ModelReport | null;
  settings: Record<string, unknown> | null;
  checkpoints: string[];
  chat_template: boolean;
  report_html: boolean;
}

export type InspectReport = ModelReport | AdapterReport | RunReport | GgufReport;

/** Describes the model, adapter or run directory, or the GGUF model or adapter file, at `path` ("demo" is the bundled model). */
export function inspectPath(path: string): InspectReport {
  const dir = resolveModelDir(path);
  if (!existsSync(dir)) throw new LoratuneError("ERR_IO", `${dir}: no such file or directory`);
  if (!statSync(dir).isDirectory()) {
    if (isGgufPath(dir)) return inspectGguf(dir);
    throw new LoratuneError(
      "ERR_USAGE",
      `${dir} is a file; inspect takes a model, adapter or run directory, or a .gguf file`,
    );
  }
  const marker = readMarker(dir);
  const has = (f: string) => existsSync(join(dir, f));
  // Runs written before the marker existed: config.yaml and metrics.jsonl.
  const isRun = marker?.kind === "run" || (marker === null && has("config.yaml") && has("metrics.jsonl"));
  if (isRun) return inspectRun(dir, marker);
  if (has(ADAPTER_CONFIG)) return inspectAdapter(dir);
  if (has("config.json")) return inspectModel(dir, marker);
  throw new LoratuneError(
    "ERR_USAGE",
    `${dir}: not a model, adapter or run directory (it has no config.json, ${ADAPTER_CONFIG} or ${MARKER_FILE})`,
  );
}

export function inspectModel(dir: string, marker: RunMarker | null = null): ModelReport {
  const path = join(dir, "config.json");
  const raw = readJsonObject(path, "ERR_CONFIG");
  const c = parseModelConfig(raw, path);
  const weights = openModelWeights(dir);
  // Stored buffers the family calls no weight (GPT-2's causal masks) are not parameters.
  const rename = familyOf(c).fileTensorName;
  let parameters = 0;
  const dtypes = new Map<string, number>();
  for (const [name, { info }] of weights.tensors) {
    if (rename?.(name) === null) continue;
    const n = info.shape.reduce((a, b) => a * b, 1);
    parameters += n;
    dtypes.set(info.dtype, (dtypes.get(info.dtype) ?? 0) + n);
  }
  const weightsBytes = weights.files.reduce((sum, f) => sum + statSync(f).size, 0);
  return {
    kind: "model",
    path: dir,
    model_type: c.modelType,
    architectures: Array.isArray(raw.architectures) ? raw.architectures.filter((a) => typeof a === "string") : [],
    parameters,
    dtype: [...dtypes].sort((a, b) => b[1] - a[1]).map(([d]) => d),
    weights_bytes: weightsBytes,
    vocab_size: c.vocabSize,
    layers: c.numLayers,
    hidden_size: c.hiddenSize,
    intermediate_size: c.intermediateSize,
    attention_heads: c.numHeads,
    key_value_heads: c.numKvHeads,
    head_dim: c.headDim,
    max_positions: c.maxPositions,
    tied_embeddings: c.tieWordEmbeddings,
    tokenizer: existsSync(join(dir, "tokenizer.json")),
    chat_template: modelHasChatTemplate(dir),
    written_by_loratune: marker ? marker.kind : null,
  };
}

/** A chat template in tokenizer_config.json (a string or named list) or in chat_template.jinja. */
function modelHasChatTemplate(dir: string): boolean {
  if (existsSync(join(dir, RUN_CHAT_TEMPLATE))) return true;
  const tc = join(dir, "tokenizer_config.json");
  if (!existsSync(tc)) return false;
  const t = readJsonObject(tc, "ERR_TOKENIZER").chat_template;
  return (typeof t === "string" && t !== "") || (Array.isArray(t) && t.length > 0);
}

export function inspectAdapter(dir: string): AdapterReport {
  const configPath = join(dir, ADAPTER_CONFIG);
  const raw = readJsonObject(configPath, "ERR_ADAPTER_CONFIG");
  const c = parseAdapterConfig(raw, configPath);
  if (!isLoraConfig(c)) {
    throw new LoratuneError(
      "ERR_UNSUPPORTED",
      `${configPath}: a ${c.method} adapter; inspect describes LoRA adapters (rank, alpha, targets) only`,
    );
  }
  const weightsPath = join(dir, ADAPTER_WEIGHTS);
  if (!existsSync(weightsPath)) throw new LoratuneError("ERR_ADAPTER_KEYS", `${dir}: no ${ADAPTER_WEIGHTS}`);
  const header = readSafetensorsHeader(weightsPath);
  let values = 0;
  let modules = 0;
  const dtypes = new Set<string>();
  for (const t of header.tensors.values()) {
    values += t.shape.reduce((a, b) => a * b, 1);
    if (/\.lora_A(\.default)?\.weight$/.test(t.name)) modules++;
    dtypes.add(t.dtype);
  }
  const base = raw.base_model_name_or_path;
  return {
    kind: "adapter",
    path: dir,
    peft_type: "LORA",
    r: c.r,
    lora_alpha: c.loraAlpha,
    scale: c.useRslora ? c.loraAlpha / Math.sqrt(c.r) : c.loraAlpha / c.r,
    lora_dropout: c.loraDropout,
    target_modules: c.targetModules,
    use_rslora: c.useRslora,
    use_dora: c.method === "dora",
    layers_to_transform: c.layersToTransform,
    rank_pattern: c.rankPattern,
    alpha_pattern: c.alphaPattern,
    layers_pattern: c.layersPattern ?? null,
    modules_to_save: c.modulesToSave ?? null,
    trainable_token_indices: c.trainableTokenIndices ?? null,
    base_model: typeof base === "string" && base !== "" ? base : null,
    trainable_params: values,
    adapted_modules: modules,
    weights_dtype: [...dtypes].sort(),
    chat_template: existsSync(join(dir, RUN_CHAT_TEMPLATE)),
  };
}

export function inspectRun(dir: string, marker: RunMarker | null): RunReport {
  const metrics = readMetricsLeniently(join(dir, "metrics.jsonl"));
  const settings = readSettings(join(dir, "config.yaml"));
  const train = lastByStep(metrics.filter((m) => m.type === "train"));
  const evals = lastByStep(metrics.filter((m) => m.type === "eval"));
  let best: MetricRow | null = null;
  for (const e of evals) {
    if (
      typeof e.val_loss === "number" &&
      Number.isFinite(e.val_loss) &&
      (best === null || e.val_loss < (best.val_loss as number))
    )
      best = e;
  }
  const last = train.at(-1) ?? null;
  const settingsSteps = typeof settings?.steps === "number" && settings.steps > 0 ? settings.steps : null;
  const bestLoss = marker?.best_val_loss ?? best?.val_loss ?? null;
  return {
    kind: "run",
    path: dir,
    status: marker?.status ?? "unknown",
    marker: marker !== null,
    loratune_version: marker?.loratune ?? null,
    created: marker?.created ?? null,
    updated: marker?.updated ?? null,
    error: marker?.error ?? null,
    steps_done: marker?.steps_done ?? last?.step ?? null,
    total_steps: marker?.total_steps ?? settingsSteps,
    last_loss: last?.loss !== undefined && Number.isFinite(last.loss) ? last.loss : null,
    best_val_loss: bestLoss,
    best_val_step: best !== null && best.val_loss === bestLoss ? best.step : null,
    adapter: existsSync(join(dir, ADAPTER_CONFIG)) ? inspectAdapter(dir) : null,
    model: !existsSync(join(dir, ADAPTER_CONFIG)) && existsSync(join(dir, "config.json")) ? inspectModel(dir) : null,
    settings,
    checkpoints: listCheckpointNames(dir),
    chat_template: existsSync(join(dir, RUN_CHAT_TEMPLATE)),
    report_html: existsSync(join(dir, "report.html")),
  };
}

/** Rows of metrics.jsonl; a line that does not parse (a run killed mid-write) is skipped. */
function readMetricsLeniently(path: string): MetricRow[] {
  if (!existsSync(path)) return [];
  const rows: MetricRow[] = [];
  readFileSync(path, "utf8")
    .split("\n")
    .forEach((line, i) => {
      if (line.trim() === "") return;
      try {
        const row = parseMetricLine(line, `${path}:${i + 1}`);
        if (row) rows.push(row);
      } catch {
        // skipped
      }
    });
  return rows;
}

/** Rows sorted by step, the last row of a repeated step kept (a resumed run appends its steps again). */
function lastByStep(rows: MetricRow[]): MetricRow[] {
  const byStep = new Map<number, MetricRow>();
  for (const r of rows) byStep.set(r.step, r);
  return [...byStep.values()].sort((a, b) => a.step - b.step);
}

/** config.yaml as written by train (a mapping), or null when absent. */
function readSettings(path: string): Record<string, unknown> | null {
  if (!existsSync(path)) return null;
  let value: unknown;
  try {
    value = parseYaml(readFileSync(path, "utf8"));
  } catch (err) {
    throw new LoratuneError("ERR_IO", `${path}: not valid YAML (${(err as Error).message.split("\n")[0]})`);
  }
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    throw new LoratuneError("ERR_IO", `${path}: expected a mapping of settings`);
  }
  return value as Record<string, unknown>;
}

function listCheckpointNames(dir: string): string[] {
  const ckpt = join(dir, "checkpoints");
  if (!existsSync(ckpt) || !statSync(ckpt).isDirectory()) return [];
  return readdirSync(ckpt)
    .filter((n) => /^step-\d+$/.test(n))
    .sort();
}
