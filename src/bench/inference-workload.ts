/**
 * Inference workloads on the base model (what a merged adapter costs), as bench_lora.py's --inference and
 * --generate modes measure them:
 * - prefill: a forward pass without gradients over B×T tokens with logits at every position (what `loratune eval`
 *   runs, and PyTorch's `model(ids)`); tokens/s = B·T / run time.
 * - decode: batch 1 with the KV cache: a prompt, then genTokens greedy single-token steps, timed;
 *   tokens/s = genTokens / decode time; the bytes each token reads (decode-bytes.ts) put it against the memory
 *   bandwidth, and against the rate its own weights are read at between its runs (weights-read.ts).
 */
import type { Kernels } from "../kernels/types.ts";
import { allocateActivations } from "../model/activations.ts";
import { createSession, feedTokens } from "../model/infer.ts";
import { evalLossSum } from "../model/loss.ts";
import { decodeBytesPerToken } from "./decode-bytes.ts";
import { decodeFlopsPerToken, prefillFlopsPerToken } from "./flops.ts";
import { KernelProfile, type ProfileEntry, profiledKernels } from "./kernel-profile.ts";
import { makeRandomModel } from "./random-model.ts";
import { shapeConfig } from "./shapes.ts";
import type { ModelWorkloadSpec, WorkloadResult } from "./spec.ts";
import { kernelInfo, median, peakRssMiB, startContentionMeter } from "./stats.ts";
import { randomBatch } from "./train-workload.ts";
import { readWeightsGBs, weightWords } from "./weights-read.ts";

/**
 * Times `run` warmup + steps times; returns the timed durations (ms) and the contention during them. `run(timed)`
 * gets whether this run is timed (a profile records only then).
 */
function timeRuns(spec: ModelWorkloadSpec, run: (timed: boolean) => number): { runMs: number[]; other: number | null } {
  for (let i = 0; i < spec.warmup; i++) run(false);
  const meter = startContentionMeter();
  const runMs: number[] = [];
  for (let i = 0; i < spec.steps; i++) runMs.push(run(true));
  return { runMs, other: meter() };
}

/** The kernels a workload runs on: `base`, or with `bench --profile` a timing wrapper and its profile. */
function workloadKernels(base: Kernels, spec: ModelWorkloadSpec): { k: Kernels; profile: KernelProfile | null } {
  const profile = spec.profile ? new KernelProfile() : null;
  return { k: profile ? profiledKernels(base, profile) : base, profile };
}

function result(
  k: Kernels,
  spec: ModelWorkloadSpec,
  setupS: number,
  tokensPerRun: number,
  flopsPerToken: number,
  timing: { runMs: number[]; other: number | null },
  profile: ProfileEntry[] | null,
): WorkloadResult {
  const ms = median(timing.runMs);
  const tokensPerS = tokensPerRun / (ms / 1000);
  return {
    kind: spec.kind,
    shape: spec.shape,
    dtype: spec.dtype,
    targets: null,
    tokensPerRun,
    tokensPerS,
    runMsMedian: ms,
    runMs: timing.runMs,
    flopsPerToken,
    gflops: (flopsPerToken * tokensPerS) / 1e9,
    peakRssMiB: peakRssMiB(),
    setupS,
    otherProcsCores: timing.other,
    kernels: kernelInfo(k),
    ...(profile ? { profile } : {}),
  };
}

export function runPrefillWorkload(base: Kernels, spec: ModelWorkloadSpec): WorkloadResult {
  const t0 = performance.now();
  const { k, profile } = workloadKernels(base, spec);
  const config = shapeConfig(spec.shape);
  const model = makeRandomModel(base, config, spec.dtype, spec.seed, Math.min(config.maxPositions, spec.T));
  const acts = allocateActivations(model, spec.B, spec.T, { withGrad: false });
  const input = randomBatch(spec.B, spec.T, config.vocabSize, spec.seed + 2);
  const setupS = (performance.now() - t0) / 1000;
  const timing = timeRuns(spec, (timed) => {
    if (profile) profile.recording = timed;
    const a = performance.now();
    evalLossSum(k, model, acts, input);
    return performance.now() - a;
  });
  // Profile: per timed run.
  const perRun = profile ? profile.perStep(spec.steps) : null;
  return result(base, spec, setupS, spec.B * spec.T, prefillFlopsPerToken(config, spec.T), timing, perRun);
}

function argmax(x: Float32Array): number {
  let best = 0;
  for (let i = 1; i < x.length; i++) if (x[i]! > x[best]!) best = i;
  return best;
}

export function runDecodeWorkload(base: Kernels, spec: ModelWorkloadSpec): WorkloadResult {
  const t0 = performance.now();
  const { k, profile } = workloadKernels(base, spec);
  const config = shapeConfig(spec.shape);
  const maxTokens = spec.promptTokens + spec.genTokens;
  const model = makeRandomModel(base, config, spec.dtype, spec.seed, Math.min(config.maxPositions, maxTokens));
  const prompt = randomBatch(1, spec.promptTokens, config.vocabSize, spec.seed + 2).ids;
  const sessions = Array.from({ length: spec.warmup + spec.steps }, () => createSession(model, maxTokens));
  const next = new Int32Array(1);
  const words = weightWords(model);
  const readGBs: number[] = [];
  const setupS = (performance.now() - t0) / 1000;
  let used = 0;
  const timing = timeRuns(spec, (timed) => {
    const session = sessions[used++]!;
    let logits = feedTokens(k, session, prompt);
    if (profile) profile.recording = timed; // the generated tokens only, not the prompt
    const a = performance.now();
    for (let i = 0; i < spec.genTokens; i++) {
      next[0] = argmax(logits);
      logits = feedTokens(k, session, next);
    }
    const ms = performance.now() - a;
    if (profile) profile.recording = false;
    // The memory's read rate right after this run, on the same weights (base kernels: never profiled).
    const gbs = timed ? readWeightsGBs(base, words) : null;
    if (gbs !== null) readGBs.push(gbs);
    return ms;
  });
  const ctx = spec.promptTokens + spec.genTokens / 2;
  // Profile: per generated token.
  const perToken = profile ? profile.perStep(spec.steps * spec.genTokens) : null;
  const out = result(base, spec, setupS, spec.genTokens, decodeFlopsPerToken(config, ctx), timing, perToken);
  const weightsReadGBs = readGBs.length ? median(readGBs) : undefined;
  return {
    ...out,
    bytesPerToken: decodeBytesPerToken(config, spec.dtype, ctx),
    ...(weightsReadGBs ? { weightsReadGBs } : {}),
  };
}
