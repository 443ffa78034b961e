/**
 * The GPU trainer's memory plan and preflight (issue 22, item 4): every buffer the trainer makes, by name and size,
 * computed from the model and the largest micro-batch without touching a GPU; the estimate sums them, and the
 * check compares each buffer with the device's maxBufferSize and maxStorageBufferBindingSize (every buffer is bound
 * whole as one storage binding, so both limits apply to each), refusing before anything is allocated.
 * N = rows·seqLen tokens; C hidden; Hq = heads·hd; Hkv = kvHeads·hd; F intermediate; V vocabulary.
 */
import { LoratuneError } from "../errors.ts";
import type { ModelConfig } from "../model/config.ts";
import type { Model } from "../model/model.ts";
import type { Linear } from "../nn/linear.ts";
import type { GpuBufferLimits, GpuMemoryEstimate } from "./trainer-api.ts";

/** Bytes per value of a base weight as uploaded (the formats the WGSL matmuls read). */
const WEIGHT_BYTES: Record<string, number> = { f32: 4, bf16: 2 };

/** The LoRA rank of an adapted linear (its attached adapter's `r`), or 0 without an adapter. */
export function loraRank(lin: Linear): number {
  const a = lin.adapter as { r?: unknown } | null;
  return a !== null && typeof a.r === "number" ? a.r : 0;
}

/** The per-layer activation buffers (forward saves and the layer's input). */
export type LayerBufferName =
  | "resid"
  | "ln1"
  | "rstd1"
  | "q"
  | "k"
  | "v"
  | "att"
  | "lse"
  | "h"
  | "ln2"
  | "rstd2"
  | "gate"
  | "up"
  | "act";

/** The buffers the layers share: the model's top, the loss, and the backward's scratch. */
export type SharedBufferName =
  | "final"
  | "lnf"
  | "rstdf"
  | "logits"
  | "dlogits"
  | "losses"
  | "dlnf"
  | "dres"
  | "dtmp"
  | "dln"
  | "dq"
  | "dk"
  | "dv"
  | "datt"
  | "dact"
  | "dgate"
  | "dup"
  | "dxa";

/** f32 values of each per-layer activation buffer for N tokens (forward saves and layer input). */
export function layerActivationSizes(c: ModelConfig, N: number): Record<LayerBufferName, number> {
  const C = c.hiddenSize;
  const Hq = c.numHeads * c.headDim;
  const Hkv = c.numKvHeads * c.headDim;
  const F = c.intermediateSize;
  return {
    resid: N * C, // the layer's input
    ln1: N * C,
    rstd1: N,
    q: N * Hq, // after RoPE
    k: N * Hkv,
    v: N * Hkv,
    att: N * Hq,
    lse: N * c.numHeads, // [B, heads, T]
    h: N * C, // residual after attention
    ln2: N * C,
    rstd2: N,
    gate: N * F,
    up: N * F,
    act: N * F,
  };
}

/** f32 values of each buffer shared by the layers: the top of the model, the loss, and the backward's scratch. */
export function sharedActivationSizes(c: ModelConfig, N: number, maxRank: number): Record<SharedBufferName, number> {
  const C = c.hiddenSize;
  const Hq = c.numHeads * c.headDim;
  const Hkv = c.numKvHeads * c.headDim;
  const F = c.intermediateSize;
  const V = c.vocabSize;
  return {
    final: N * C, // output of the last layer
    lnf: N * C,
    rstdf: N,
    logits: N * V,
    dlogits: N * V,
    losses: N,
    dlnf: N * C,
    dres: N * C,
    dtmp: N * C,
    dln: N * C,
    dq: N * Hq,
    dk: N * Hkv,
    dv: N * Hkv,
    datt: N * Hq,
    dact: N * F,
    dgate: N * F,
    dup: N * F,
    dxa: N * Math.max(1, maxRank),
  };
}

/** Every buffer of a training session as [name, bytes], weights first (names as the trainer's labels). */
export function gpuBufferPlan(model: Model, rows: number, seqLen: number): [string, number][] {
  const c = model.config;
  const N = rows * seqLen;
  const plan: [string, number][] = [];
  const weight = (name: string, dtype: string, values: number) => {
    plan.push([name, values * (WEIGHT_BYTES[dtype] ?? 4)]);
  };
  weight("model.embed_tokens.weight", model.embed.dtype, c.vocabSize * c.hiddenSize);
  if (model.lmHead !== model.embed) weight("lm_head.weight", model.lmHead.dtype, c.vocabSize * c.hiddenSize);
  let maxRank = 0;
  for (const lin of model.linears) {
    weight(`${lin.name}.weight`, lin.weight.dtype, lin.outFeatures * lin.inFeatures);
    if (lin.bias) plan.push([`${lin.name}.bias`, lin.outFeatures * 4]);
    const r = loraRank(lin);
    if (r === 0) continue;
    maxRank = Math.max(maxRank, r);
    // A [r, in] and B [out, r], each with its gradient and AdamW's m and v; the forward's xa [N, r].
    for (const t of ["lora_A", "lora_B"]) {
      const n = t === "lora_A" ? r * lin.inFeatures : lin.outFeatures * r;
      for (const part of ["weight", "grad", "adam_m", "adam_v"]) plan.push([`${lin.name}.${t}.${part}`, n * 4]);
    }
    plan.push([`${lin.name}.lora_xa`, N * r * 4]);
  }
  // Norm weights: two per layer and the final one; RoPE tables for the positions a row can hold.
  plan.push(["norms", (2 * c.numLayers + 1) * c.hiddenSize * 4]);
  const half = c.headDim / 2;
  const positions = Math.min(seqLen, model.positions);
  plan.push(["rope.cos", positions * half * 4], ["rope.sin", positions * half * 4]);
  for (let l = 0; l < c.numLayers; l++) {
    for (const [name, n] of Object.entries(layerActivationSizes(c, N))) plan.push([`layers.${l}.${name}`, n * 4]);
  }
  for (const [name, n] of Object.entries(sharedActivationSizes(c, N, maxRank))) plan.push([name, n * 4]);
  // The batch: ids, targets, positions, segments (i32 each).
  plan.push(["batch", 4 * N * 4]);
  return plan;
}

/** The preflight's figures for training `model` on micro-batches of up to rows × seqLen tokens. */
export function estimateGpuMemory(model: Model, rows: number, seqLen: number): GpuMemoryEstimate {
  let weightBytes = 0;
  let adapterBytes = 0;
  let activationBytes = 0;
  let largestBuffer = { name: "", bytes: 0 };
  const weights = new Set(["norms", "rope.cos", "rope.sin"]);
  for (const [name, bytes] of gpuBufferPlan(model, rows, seqLen)) {
    if (/\.lora_[AB]\./.test(name)) adapterBytes += bytes;
    else if (weights.has(name) || name.endsWith(".weight") || name.endsWith(".bias")) weightBytes += bytes;
    else activationBytes += bytes;
    if (bytes > largestBuffer.bytes) largestBuffer = { name, bytes };
  }
  return {
    weightBytes,
    adapterBytes,
    activationBytes,
    totalBytes: weightBytes + adapterBytes + activationBytes,
    largestBuffer,
  };
}

const MiB = 1024 * 1024;
const mib = (bytes: number) => `${(bytes / MiB).toFixed(1)} MiB`;

/**
 * Throws LoratuneError("ERR_MEMORY") when the largest buffer exceeds maxBufferSize or maxStorageBufferBindingSize
 * (the message names the limit, the buffer and both sizes, and what to do). `adapterLimits`, when given, are the
 * adapter's own limits: if they would allow the buffer, the message says to request them for the device.
 */
export function checkGpuLimits(
  estimate: GpuMemoryEstimate,
  limits: GpuBufferLimits,
  adapterLimits?: GpuBufferLimits,
): void {
  const { name, bytes } = estimate.largestBuffer;
  for (const limit of ["maxBufferSize", "maxStorageBufferBindingSize"] as const) {
    if (bytes <= limits[limit]) continue;
    const raise =
      adapterLimits && bytes <= adapterLimits[limit]
        ? ` The adapter allows ${mib(adapterLimits[limit])}: request it when creating the device (requestTrainingDevice does).`
        : " Use fewer rows or a shorter sequence length (activations and logits grow with rows × length), or a smaller model.";
    throw new LoratuneError(
      "ERR_MEMORY",
      `webgpu: the buffer ${name} needs ${mib(bytes)}, more than this device's ${limit} (${mib(limits[limit])}).${raise} ` +
        `The session needs ${mib(estimate.totalBytes)} in all (weights ${mib(estimate.weightBytes)}, adapter and optimizer ${mib(estimate.adapterBytes)}, activations ${mib(estimate.activationBytes)}).`,
    );
  }
}
