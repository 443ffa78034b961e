/**
 * The training memory estimate that the pre-training summary prints, that the bench checks against the measured
 * peak RSS, and that train() compares with the memory available before it loads any weight: base weights + each
 * adapter value with its gradient and two AdamW moments (full fine-tuning: a gradient and two moments per weight)
 * + the activation arena + a fixed allowance for Node, V8 (with tsx when running from the sources) and the native
 * addon. It is made from a loaded model (estimateTrainingPeakBytes) or, before loading, from the config and how
 * each tensor will be held (planTrainingPeakBytes); both add up the same parts, so they agree.
 */

import type { AdapterConfig } from "../lora/method.ts";
import { planAdapter } from "../lora/plan.ts";
import { activationBytes, arenaBytes } from "../model/activations.ts";
import { familyOf } from "../model/arch/registry.ts";
import type { ParamSpec } from "../model/arch/spec.ts";
import type { ModelConfig } from "../model/config.ts";
import type { Model } from "../model/model.ts";
import { specQuantizedFormat } from "../model/quantize.ts";
import { formatBytes, type QuantizeChoice, type StorageDType, weightFormat } from "../tensor/formats/index.ts";

/**
 * Node, V8, loratune's modules and the addon before any model is loaded. Measured: about 60 MiB running the
 * compiled package (dist/), 90 MiB from the sources through tsx (a checkout), whose loader takes the difference.
 */
export const RUNTIME_BASE_BYTES = (import.meta.url.endsWith(".ts") ? 90 : 62) * 2 ** 20;

/** The parts of the estimate. */
export interface TrainingMemory {
  /** The base weights as held (quantized linears, f32 norms). */
  weightBytes: number;
  /** Trainable values: adapter values each with a gradient and two moments; full: a gradient and two moments. */
  optimizerBytes: number;
  /** The activation arena for the batch. */
  activationBytes: number;
  runtimeBytes: number;
  totalBytes: number;
}

function parts(weightBytes: number, optimizerBytes: number, activations: number): TrainingMemory {
  const totalBytes = weightBytes + optimizerBytes + activations + RUNTIME_BASE_BYTES;
  return { weightBytes, optimizerBytes, activationBytes: activations, runtimeBytes: RUNTIME_BASE_BYTES, totalBytes };
}

/**
 * Bytes per trainable value beyond the weights: an adapter's value is its own (4 bytes) plus a gradient and two
 * AdamW moments; a fully fine-tuned weight is already counted with the weights.
 */
const perTrainable = (full: boolean) => (full ? 12 : 16);

/** The estimate for a loaded model with its trainable values (adapters attached, or full training enabled). */
/**
 * The estimate for a loaded model with its trainable values (adapters attached, or full training enabled).
 * `wholeBatch`: the arena holds the whole batch even with checkpointing (preference tuning; ArenaOptions).
 */
export function trainingMemory(
  model: Model,
  trainableValues: number,
  B: number,
  T: number,
  checkpoint = false,
  wholeBatch = false,
): TrainingMemory {
  const full = !model.linears.some((l) => l.adapter !== null);
  return parts(
    baseWeightBytes(model),
    trainableValues * perTrainable(full),
    activationBytes(model, B, T, { checkpoint, wholeBatch }),
  );
}

export function estimateTrainingPeakBytes(
  model: Model,
  trainableValues: number,
  B: number,
  T: number,
  checkpoint = false,
  wholeBatch = false,
): number {
  return trainingMemory(model, trainableValues, B, T, checkpoint, wholeBatch).totalBytes;
}

/** Bytes of the base weights as held: each tensor in its own format (quantized linears, f32 norms). */
export function baseWeightBytes(model: Model): number {
  let bytes = 0;
  for (const t of new Set(model.tensors.values()))
    bytes += formatBytes(
      weightFormat(t.dtype),
      t.shape.reduce((a, b) => a * b, 1),
    );
  return bytes;
}

/** How a safetensors base's tensor is held after loading with `dtype` (and `quantize`): see model/load.ts. */
export function heldFormat(spec: ParamSpec, dtype: StorageDType, quantize?: QuantizeChoice): StorageDType {
  if (spec.role === "norm" || spec.role === "bias" || spec.role === "position") return "f32";
  return quantize !== undefined ? specQuantizedFormat(spec, quantize, dtype) : dtype;
}

export interface TrainingPlan {
  config: ModelConfig;
  /** The format each tensor will be held in (heldFormat for a safetensors base; a GGUF base's own types). */
  formatOf: (spec: ParamSpec) => StorageDType;
  /** The adapter to train, or null for full fine-tuning. */
  adapter: AdapterConfig | null;
  B: number;
  T: number;
  checkpoint: boolean;
  /** The arena holds the whole batch even with checkpointing (preference tuning; ArenaOptions.wholeBatch). */
  wholeBatch?: boolean;
}

/** The estimate before any weight is read: from the config, the tensors' formats and the adapter config. */
export function planTrainingMemory(p: TrainingPlan): TrainingMemory {
  const family = familyOf(p.config);
  const specs = family.params(p.config);
  let weightBytes = 0;
  let allValues = 0;
  for (const spec of specs) {
    const n = spec.shape.reduce((a, b) => a * b, 1);
    weightBytes += formatBytes(weightFormat(p.formatOf(spec)), n);
    allValues += n;
  }
  const plan = p.adapter ? planAdapter(p.adapter, specs) : null;
  const rows = plan?.rows ?? { cacheValues: 0, scratchValues: 1, masks: false };
  const optimizerBytes = plan ? plan.values * perTrainable(false) : allValues * perTrainable(true);
  const o = { checkpoint: p.checkpoint, wholeBatch: p.wholeBatch ?? false };
  const arena = arenaBytes(p.config, family, rows, p.B, p.T, o, tiedTableTrains(p.config, p.adapter));
  return parts(weightBytes, optimizerBytes, arena);
}

/**
 * Whether the run trains an embedding table that is also the head (GroupBlockers.tiedTableTrains): a tied model's
 * table under full fine-tuning or with new token rows (trainable_token_indices). modules_to_save copies the
 * module it trains, so a saved embed_tokens or lm_head is a table of its own.
 */
function tiedTableTrains(config: ModelConfig, adapter: AdapterConfig | null): boolean {
  if (!config.tieWordEmbeddings) return false;
  return adapter === null || Object.keys(adapter.trainableTokenIndices ?? {}).length > 0;
}
