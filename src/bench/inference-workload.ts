/**
 * Inference workloads on the base model (what a merged adapter costs), as bench_lora.py's --inference and
 * --generate modes measure them:
 * - prefill: a forward pass without gradients over B×T tokens with logits at every position (what `loratune eval`
 *   runs, and PyTorch's `model(ids)`); tokens/s = B·T / run time.
 * - decode: batch 1 with the KV cache: a prompt, then genTokens greedy single-token steps, timed;
 *   tokens/s = genTokens / decode time; the bytes each token reads (decode-bytes.ts) put it against the memory
 *   bandwidth.
 */
import type { Kernels } from "../kernels/types.ts";
import { allocateActivations } from "../model/activations.ts";
import { createSession, feedTokens } from "../model/infer.ts";
import { evalLossSum } from "../model/loss.ts";
import { decodeBytesPerToken } from "./decode-bytes.ts";
import { decodeFlopsPerToken, prefillFlopsPerToken } from "./flops.ts";
import { makeRandomModel } from "./random-model.ts";
import { shapeConfig } from "./shapes.ts";
import type { ModelWorkloadSpec, WorkloadResult } from "./spec.ts";
import { kernelInfo, median, peakRssMiB, startContentionMeter } from "./stats.ts";
import { randomBatch } from "./train-workload.ts";

/** Times `run` warmup + steps times; returns the timed durations (ms) and the contention during them. */
function timeRuns(spec: ModelWorkloadSpec, run: () => number): { runMs: number[]; other: number | null } {
  for (let i = 0; i < spec.warmup; i++) run();
  const meter = startContentionMeter();
  const runMs: number[] = [];
  for (let i = 0; i < spec.steps; i++) runMs.push(run());
  return { runMs, other: meter() };
}

function result(
  k: Kernels,
  spec: ModelWorkloadSpec,
  setupS: number,
  tokensPerRun: number,
  flopsPerToken: number,
  timing: { runMs: number[]; other: number | null },
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
  };
}

export function runPrefillWorkload(k: Kernels, spec: ModelWorkloadSpec): WorkloadResult {
  const t0 = performance.now();
  const config = shapeConfig(spec.shape);
  const model = makeRandomModel(k, config, spec.dtype, spec.seed, Math.min(config.maxPositions, spec.T));
  const acts = allocateActivations(model, spec.B, spec.T, { withGrad: false });
  const input = randomBatch(spec.B, spec.T, config.vocabSize, spec.seed + 2);
  const setupS = (performance.now() - t0) / 1000;
  const timing = timeRuns(spec, () => {
    const a = performance.now();
    evalLossSum(k, model, acts, input);
    return performance.now() - a;
  });
  return result(k, spec, setupS, spec.B * spec.T, prefillFlopsPerToken(config, spec.T), timing);
}

function argmax(x: Float32Array): number {
  let best = 0;
  for (let i = 1; i < x.length; i++) if (x[i]! > x[best]!) best = i;
  return best;
}

export function runDecodeWorkload(k: Kernels, spec: ModelWorkloadSpec): WorkloadResult {
  const t0 = performance.now();
  const config = shapeConfig(spec.shape);
  const maxTokens = spec.promptTokens + spec.genTokens;
  const model = makeRandomModel(k, config, spec.dtype, spec.seed, Math.min(config.maxPositions, maxTokens));
  const prompt = randomBatch(1, spec.promptTokens, config.vocabSize, spec.seed + 2).ids;
  const sessions = Array.from({ length: spec.warmup + spec.steps }, () => createSession(model, maxTokens));
  const next = new Int32Array(1);
  const setupS = (performance.now() - t0) / 1000;
  let used = 0;
  const timing = timeRuns(spec, () => {
    const session = sessions[used++]!;
    let logits = feedTokens(k, session, prompt);
    const a = performance.now();
    for (let i = 0; i < spec.genTokens; i++) {
      next[0] = argmax(logits);
      logits = feedTokens(k, session, next);
    }
    return performance.now() - a;
  });
  const ctx = spec.promptTokens + spec.genTokens / 2;
  const out = result(k, spec, setupS, spec.genTokens, decodeFlopsPerToken(config, ctx), timing);
  return { ...out, bytesPerToken: decodeBytesPerToken(config, spec.dtype, ctx) };
}
