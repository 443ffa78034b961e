/**
 * The LoRA training workload: a random-weight model, LoRA (rank r) on q,k,v,o or on every linear, one fixed
 * random batch of B×T tokens, and timed optimizer steps exactly as the trainer runs them: zero the gradients,
 * forward (with the chunked loss and its gradient), backward, gradient norm, AdamW update. Dropout 0, as the
 * PyTorch side. Phases are timed separately so the bench can say where a step's time goes.
 */

import type { Kernels } from "../kernels/types.ts";
import { attachLora, loraParams } from "../lora/adapter.ts";
import { defaultLoraConfig, type LoraConfig } from "../lora/config.ts";
import { allocateActivations } from "../model/activations.ts";
import type { ModelConfig } from "../model/config.ts";
import type { ModelInput } from "../model/forward.ts";
import { countLabelTokens, lossAndGrad } from "../model/loss.ts";
import { Rng } from "../tensor/rng.ts";
import { AdamW } from "../train/adamw.ts";
import { gradNorm, zeroGrads } from "../train/grads.ts";
import { estimateTrainingPeakBytes, planTrainingMemory } from "../train/memory.ts";
import { availableMemory, checkMemoryFits } from "../train/memory-check.ts";
import { QKVO_TARGETS, trainFlopsPerToken } from "./flops.ts";
import { KernelProfile, profiledKernels } from "./kernel-profile.ts";
import { makeRandomModel, randomTensorFormat } from "./random-model.ts";
import { shapeConfig } from "./shapes.ts";
import type { ModelWorkloadSpec, WorkloadResult } from "./spec.ts";
import { kernelInfo, median, peakRssMiB, startContentionMeter } from "./stats.ts";

/** Learning rate of the timed steps (as bench_lora.py; the value does not change the cost). */
const LR = 1e-4;

/**
 * B rows of T random token ids with next-token targets (the last position of each row has none), positions
 * 0…T-1: the same work as PyTorch's `model(ids, labels=ids)`, which shifts labels inside.
 */
export function randomBatch(B: number, T: number, vocab: number, seed: number): ModelInput {
  const rng = new Rng(seed);
  const ids = new Int32Array(B * T);
  for (let i = 0; i < ids.length; i++) ids[i] = rng.nextInt(vocab);
  const targets = new Int32Array(B * T);
  const pos = new Int32Array(B * T);
  for (let b = 0; b < B; b++) {
    for (let t = 0; t < T; t++) {
      const i = b * T + t;
      pos[i] = t;
      targets[i] = t === T - 1 ? -100 : ids[i + 1]!;
    }
  }
  return { B, T, ids, targets, pos, seg: null };
}

/** As `loratune train` does: refuses, before the model is made, a workload whose estimate exceeds the memory. */
function checkWorkloadMemory(spec: ModelWorkloadSpec, config: ModelConfig, lora: LoraConfig): void {
  const memory = planTrainingMemory({
    config,
    formatOf: (s) => randomTensorFormat(s, spec.dtype),
    adapter: lora,
    B: spec.B,
    T: spec.T,
    checkpoint: spec.gradCheckpoint,
  });
  const remedies = [
    ...(spec.dtype === "q4_k" ? [] : ["--dtype q4_k"]),
    ...(spec.gradCheckpoint ? [] : ["--grad-checkpoint"]),
    `a smaller --batch-size (${spec.B}) or --seq-len (${spec.T})`,
  ];
  checkMemoryFits(memory, availableMemory(), remedies, "--no-memory-check");
}

export function runTrainWorkload(base: Kernels, spec: ModelWorkloadSpec): WorkloadResult {
  const t0 = performance.now();
  const profile = spec.profile ? new KernelProfile() : null;
  const k = profile ? profiledKernels(base, profile) : base;
  const config = shapeConfig(spec.shape);
  const lora = defaultLoraConfig({
    r: spec.r,
    loraAlpha: spec.alpha,
    targetModules: spec.targets === "all-linear" ? "all-linear" : [...QKVO_TARGETS],
  });
  if (spec.memoryCheck !== false) checkWorkloadMemory(spec, config, lora);
  const model = makeRandomModel(base, config, spec.dtype, spec.seed, Math.min(config.maxPositions, spec.T));
  const rng = new Rng(spec.seed + 1);
  attachLora(model, lora, () => rng.next());
  const params = loraParams(model);
  const trainable = params.reduce((n, p) => n + p.data.length, 0);
  const opt = new AdamW(params);
  const acts = allocateActivations(model, spec.B, spec.T, { checkpoint: spec.gradCheckpoint });
  const input = randomBatch(spec.B, spec.T, config.vocabSize, spec.seed + 2);
  const gradScale = 1 / countLabelTokens(input.targets);
  const setupS = (performance.now() - t0) / 1000;

  const runMs: number[] = [];
  const phases = { forward: [] as number[], backward: [] as number[], optimizer: [] as number[] };
  let loss = Number.NaN;
  let meter = startContentionMeter();
  for (let i = 0; i < spec.warmup + spec.steps; i++) {
    const timed = i >= spec.warmup;
    if (i === spec.warmup) meter = startContentionMeter();
    if (profile) profile.recording = timed;
    const a = performance.now();
    zeroGrads(k, params);
    // With checkpointing the arena may hold one sequence group: lossAndGrad runs the batch group by group.
    const times = { forward: 0, backward: 0 };
    loss = lossAndGrad(k, model, acts, input, gradScale, null, times) * gradScale;
    const c = performance.now();
    gradNorm(k, params);
    opt.update(k, LR);
    const d = performance.now();
    if (!timed) continue;
    runMs.push(d - a);
    phases.forward.push(times.forward);
    phases.backward.push(times.backward);
    phases.optimizer.push(d - c);
  }
  const otherProcsCores = meter();
  const tokensPerRun = spec.B * spec.T;
  const ms = median(runMs);
  const flopsPerToken = trainFlopsPerToken(config, spec.T, trainable);
  const tokensPerS = tokensPerRun / (ms / 1000);
  return {
    kind: "train",
    shape: spec.shape,
    dtype: spec.dtype,
    targets: spec.targets,
    tokensPerRun,
    tokensPerS,
    runMsMedian: ms,
    runMs,
    flopsPerToken,
    gflops: (flopsPerToken * tokensPerS) / 1e9,
    peakRssMiB: peakRssMiB(),
    setupS,
    otherProcsCores,
    kernels: kernelInfo(base),
    trainableParams: trainable,
    estimatedPeakMiB: estimateTrainingPeakBytes(model, trainable, spec.B, spec.T, spec.gradCheckpoint) / 2 ** 20,
    loss,
    phasesMs: {
      forward: median(phases.forward),
      backward: median(phases.backward),
      optimizer: median(phases.optimizer),
    },
    ...(profile ? { profile: profile.perStep(spec.steps) } : {}),
  };
}
