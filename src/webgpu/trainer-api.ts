/// <reference types="@webgpu/types" />
/**
 * The GPU-resident LoRA trainer's API (issue 22): what a browser page or the Node CLI holds to train a LoRA
 * adapter on WebGPU. Types only; the pieces live in their own files:
 *
 *   createGpuLoraTrainer(device, options)   src/webgpu/trainer.ts    → Promise<GpuLoraTrainer>
 *   estimateGpuMemory(model, rows, seqLen)  src/webgpu/memory.ts     the preflight's byte counts (pure)
 *   checkGpuLimits(estimate, limits)        src/webgpu/memory.ts     refuses, naming the limit (LoratuneError)
 *   requestTrainingDevice(adapter)          src/webgpu/device.ts     a GPUDevice with the adapter's buffer limits
 *
 * How to use it (browser or Node; nothing here imports a node: module):
 *   1. Build the CPU `Model` as the library does (assembleModel / loadModel) and attach LoRA with the library's own
 *      `attachLora(model, loraConfig, uniform)` with the run's seed: the GPU trainer starts from exactly those A and
 *      B values (uploaded once), so a CPU run and a GPU run with the same seed start identical.
 *   2. `const device = await requestTrainingDevice(adapter)` (or any GPUDevice), then
 *      `const t = await createGpuLoraTrainer(device, { model, maxRows, maxSeqLen })`. The preflight runs first and
 *      throws LoratuneError("ERR_MEMORY") naming maxBufferSize or maxStorageBufferBindingSize when a buffer
 *      will not fit; nothing has been allocated then. The frozen base weights are uploaded once (f32, or bf16 as
 *      the model holds them); the caller may drop its CPU copy of the base afterwards, except for the LoRA tensors
 *      (copyAdapterToModel writes into them).
 *   3. Per optimizer step: `const { loss, gradNorm } = await t.step(microBatches, lr)` with the lr of
 *      train/schedule.ts's lrAt (the schedule stays on the host). `microBatches` are data/batch.ts Batches (one, or
 *      several for gradient accumulation), as SftObjective.epochBatches makes them. The loss is the CPU trainer's:
 *      the mean token loss over every label token (target ≠ −100) of the step's micro-batches. Only the per-batch
 *      loss sums and per-tensor gradient sums of squares are read back (a few floats); the AdamW update is
 *      submitted and not awaited, so the next step's work queues behind it.
 *   4. `await t.evalLoss(batches)`: the mean token loss over the batches, no gradients (held-out scoring).
 *   5. `await t.adapterTensors()`: the trained A and B by PEFT key
 *      ("base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight", [r, in]; "...lora_B.weight", [out, r]);
 *      `await t.copyAdapterToModel()` writes them into the CPU model's LoRA tensors, after which the library's
 *      own writers (lora/peft-files.ts, via the api) and CPU inference (generate, scoring) see the trained adapter.
 *   6. `t.destroy()` frees every GPU buffer (the device stays the caller's).
 *
 * Supported: the Llama-style families' plain form (llama; mistral/qwen2 without a sliding window in reach of the
 * sequence length; q/k/v biases as Qwen2's), f32 or bf16 base weights, tied or separate head, LoRA (not DoRA or
 * other methods) on any of q,k,v,o,gate,up,down (the library's default targets for Llama are q_proj,v_proj),
 * scale alpha/r or rsLoRA's alpha/√r as the attached adapters hold it, rank/alpha patterns, dropout 0,
 * AdamW (PyTorch semantics) with weight decay, global-norm clipping and LoRA+ ratios. Anything else is refused at
 * creation with a LoratuneError("ERR_UNSUPPORTED") naming what and why (dropout > 0: the masks are drawn on
 * the CPU from the run's RNG, which a GPU run does not replay).
 */
import type { Batch } from "../data/batch.ts";
import type { Model } from "../model/model.ts";
import type { AdamWOptions } from "../train/adamw.ts";

/** What createGpuLoraTrainer needs besides the device. */
export interface GpuLoraTrainerOptions {
  /** A Llama-style model with LoRA attached by attachLora (A, B as initialised; gradients allocated or not). */
  model: Model;
  /** Rows of the largest micro-batch (the activation buffers are sized for maxRows × maxSeqLen tokens). */
  maxRows: number;
  /** Tokens per row of the largest micro-batch (and the RoPE positions uploaded: 0 … maxSeqLen − 1). */
  maxSeqLen: number;
  /** AdamW's betas, eps and decoupled weight decay; default train/adamw.ts ADAMW_DEFAULTS. */
  optimizer?: AdamWOptions;
  /** Clip the global gradient norm to this (the CPU trainer's --max-grad-norm; 0 or unset: off). */
  maxGradNorm?: number;
  /** LoRA+ (PEFT's loraplus_lr_ratio): lora_B learns at this multiple of lr; 0 or unset: off. */
  loraplusLrRatio?: number;
}

/** One optimizer step's figures (what the CPU trainer's "step" event reports). */
export interface GpuStepResult {
  /** Mean token loss over all label tokens of the step's micro-batches (0 when there are none, as on the CPU). */
  loss: number;
  /** Global L2 norm of the adapter's gradients before clipping (f64 sum of the per-tensor f32 sums of squares). */
  gradNorm: number;
  /** Label tokens of the step. */
  labelTokens: number;
  /** Tokens (B·T) of the step's micro-batches, padding included (the CPU trainer's tokens/s counts these). */
  tokens: number;
}

/** The loss and the adapter's gradients of one forward + backward, without an update (gradient checks). */
export interface GpuGradients {
  loss: number;
  /** d(mean token loss)/d(tensor) by PEFT key, before clipping. */
  grads: Map<string, Float32Array>;
}

/** A trainable adapter tensor as the trainer holds it. */
export interface GpuAdapterParam {
  /** PEFT key ("base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight"). */
  name: string;
  /** [r, in] for lora_A, [out, r] for lora_B. */
  shape: number[];
}

/** Byte counts of a training run on the GPU (src/webgpu/memory.ts). */
export interface GpuMemoryEstimate {
  /** Frozen base weights (linears, embedding, separate head, norms, RoPE tables), as uploaded. */
  weightBytes: number;
  /** Adapter A and B, their gradients and AdamW's two moments. */
  adapterBytes: number;
  /** Forward activations saved for backward, the backward's scratch, and the logits with their gradient. */
  activationBytes: number;
  /** The sum of the three. */
  totalBytes: number;
  /** The largest single buffer and what it holds (every buffer is bound whole as storage). */
  largestBuffer: { name: string; bytes: number };
}

/** The two adapter limits the preflight compares with (a GPUSupportedLimits, or a plain object in tests). */
export interface GpuBufferLimits {
  maxBufferSize: number;
  maxStorageBufferBindingSize: number;
}

/** A LoRA training session whose weights, activations, adapter and optimizer state live on one GPUDevice. */
export interface GpuLoraTrainer {
  /** The trainable tensors, in the CPU trainer's order (adapterParams: module by module, A then B). */
  readonly params: readonly GpuAdapterParam[];
  /** The preflight's figures for this session. */
  readonly memory: GpuMemoryEstimate;
  /** Optimizer steps done. */
  readonly stepsDone: number;
  /**
   * One optimizer step: forward + backward of every micro-batch (gradients accumulate, scaled by 1 / the step's
   * label tokens), the global gradient norm, clipping, then AdamW at `lr` (times LoRA+'s ratio for lora_B).
   * Throws LoratuneError("ERR_NONFINITE") before the update when the loss or a gradient is not finite.
   */
  step(micro: Batch | readonly Batch[], lr: number): Promise<GpuStepResult>;
  /** Mean token loss over every label token of `batches`, without gradients (NaN when there are none). */
  evalLoss(batches: Batch | readonly Batch[]): Promise<{ loss: number; tokens: number }>;
  /** Forward + backward of the micro-batches as step() does them, without clipping or an update. */
  gradients(micro: Batch | readonly Batch[]): Promise<GpuGradients>;
  /** The adapter's current A and B by PEFT key (copies read back from the GPU). */
  adapterTensors(): Promise<Map<string, Float32Array>>;
  /** Writes the current A and B into the CPU model's LoRA tensors (for the library's writers and inference). */
  copyAdapterToModel(): Promise<void>;
  /** AdamW's first and second moments per parameter (in `params` order), read back (for checkpoints). */
  optimizerState(): Promise<{ m: Float32Array[]; v: Float32Array[] }>;
  /** Frees every buffer the trainer made; the trainer is unusable afterwards. */
  destroy(): void;
}
