/**
 * The training memory estimate that the pre-training summary prints and the bench checks against the measured
 * peak RSS: base weights + gradient and two AdamW moments per trainable value + the activation arena + a fixed
 * allowance for Node, V8 (with tsx when running from the sources) and the native addon.
 */
import { activationBytes } from "../model/activations.ts";
import type { Model } from "../model/model.ts";
import { formatBytes, weightFormat } from "../tensor/formats/index.ts";

/**
 * Node, V8, loratune's modules and the addon before any model is loaded. Measured: about 60 MiB running the
 * compiled package (dist/), 90 MiB from the sources through tsx (a checkout), whose loader takes the difference.
 */
export const RUNTIME_BASE_BYTES = (import.meta.url.endsWith(".ts") ? 90 : 62) * 2 ** 20;

export function estimateTrainingPeakBytes(
  model: Model,
  trainableValues: number,
  B: number,
  T: number,
  checkpoint = false,
): number {
  const weightBytes = baseWeightBytes(model);
  const optimizerBytes = trainableValues * 4 * 3; // gradient + two AdamW moments
  return weightBytes + optimizerBytes + activationBytes(model, B, T, { checkpoint }) + RUNTIME_BASE_BYTES;
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
