/**
 * The learning-rate range test behind `loratune lr-find` (Smith, "Cyclical Learning Rates", 2017; fastai's
 * lr_find): a short run whose learning rate grows exponentially from `startLr` to `endLr`, one optimizer step per
 * learning rate, recording the training loss. The loss is smoothed by an exponential moving average (β = 0.9,
 * bias-corrected) and the test stops early once the smoothed loss exceeds DIVERGE × its minimum or a loss is not
 * finite: past that point the run has diverged and says nothing more.
 *
 * The suggestion (SUGGESTION_RULE): the learning rate at the smoothed loss's minimum, divided by 10 — the largest
 * rate that still lowered the loss, with a margin, because the minimum itself is already on the edge of
 * divergence. The steepest descent (the most negative slope of the smoothed loss against log10 lr) is reported
 * beside it.
 */
import { makeBatches } from "../data/batch.ts";
import type { Example } from "../data/encode.ts";
import { LoratuneError } from "../errors.ts";
import type { Kernels } from "../kernels/types.ts";
import { allocateActivations } from "../model/activations.ts";
import { lossAndGrad } from "../model/loss.ts";
import type { Model } from "../model/model.ts";
import { Rng } from "../tensor/rng.ts";
import type { TrainableParam } from "../tensor/trainable.ts";
import { AdamW, loraPlusLrScales } from "./adamw.ts";
import { gradNorm, scaleGrads, zeroGrads } from "./grads.ts";
import type { TrainSettings } from "./trainer.ts";

export const SMOOTHING = 0.9;
export const DIVERGE = 4;
export const SUGGESTION_RULE = "the learning rate at the minimum of the smoothed loss, divided by 10";

export interface LrPoint {
  step: number;
  lr: number;
  loss: number;
  /** The bias-corrected exponential moving average of the losses so far. */
  smoothed: number;
}

export interface LrSuggestion {
  /** SUGGESTION_RULE's learning rate. */
  lr: number;
  rule: string;
  /** The learning rate where the smoothed loss was lowest, and that loss. */
  minLossLr: number;
  minLoss: number;
  /** The learning rate of the steepest descent of the smoothed loss. */
  steepestLr: number;
}

export interface LrRangeInputs {
  kernels: Kernels;
  model: Model;
  params: TrainableParam[];
  train: Example[];
  settings: Pick<
    TrainSettings,
    | "batchSize"
    | "gradAccum"
    | "seqLen"
    | "pack"
    | "shuffle"
    | "seed"
    | "weightDecay"
    | "loraplusLrRatio"
    | "maxGradNorm"
    | "beta1"
    | "beta2"
    | "adamEps"
  >;
  startLr: number;
  endLr: number;
  steps: number;
  padId: number;
  signal?: AbortSignal;
  onPoint?: (p: LrPoint) => void;
}

/** The learning rate of step i (0-based) of n: startLr · (endLr/startLr)^(i/(n−1)). */
export function rangeLr(i: number, n: number, startLr: number, endLr: number): number {
  return n <= 1 ? startLr : startLr * (endLr / startLr) ** (i / (n - 1));
}

/** Runs the test; returns every step's point up to divergence (or the last step). */
export async function runLrRange(inp: LrRangeInputs): Promise<{ points: LrPoint[]; diverged: boolean }> {
  const { kernels: k, model, params, settings: s } = inp;
  if (inp.train.length === 0) throw new LoratuneError("ERR_DATA", "the training set is empty");
  const opt = new AdamW(
    params,
    { beta1: s.beta1, beta2: s.beta2, eps: s.adamEps, weightDecay: s.weightDecay },
    loraPlusLrScales(params, s.loraplusLrRatio ?? 0),
  );
  const acts = allocateActivations(model, s.batchSize, s.seqLen);
  const rng = new Rng(s.seed ^ 0x5eed);
  const next = batchStream(inp.train, s, inp.padId);
  const points: LrPoint[] = [];
  let avg = 0;
  let best = Number.POSITIVE_INFINITY;
  for (let i = 0; i < inp.steps; i++) {
    inp.signal?.throwIfAborted();
    const micro = Array.from({ length: s.gradAccum }, next);
    const labels = micro.reduce((n, b) => n + b.nLabelTokens, 0);
    zeroGrads(k, params);
    let sum = 0;
    for (const b of micro) if (b.nLabelTokens > 0) sum += lossAndGrad(k, model, acts, b, 1 / labels, () => rng.next());
    const loss = labels > 0 ? sum / labels : 0;
    if (!Number.isFinite(loss)) return { points, diverged: true };
    const norm = gradNorm(k, params);
    if (!Number.isFinite(norm)) return { points, diverged: true };
    if (s.maxGradNorm > 0 && norm > s.maxGradNorm) scaleGrads(k, params, s.maxGradNorm / (norm + 1e-6));
    const lr = rangeLr(i, inp.steps, inp.startLr, inp.endLr);
    opt.update(k, lr);
    avg = SMOOTHING * avg + (1 - SMOOTHING) * loss;
    const point = { step: i + 1, lr, loss, smoothed: avg / (1 - SMOOTHING ** (i + 1)) };
    points.push(point);
    inp.onPoint?.(point);
    best = Math.min(best, point.smoothed);
    if (point.smoothed > DIVERGE * best) return { points, diverged: true };
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
  return { points, diverged: false };
}

/** An endless stream of micro-batches: epoch after epoch, each shuffled with seed + epoch as training does. */
function batchStream(examples: Example[], s: LrRangeInputs["settings"], padId: number) {
  let epoch = 0;
  let index = 0;
  let batches = makeBatches(examples, { ...s, seed: s.seed, padId });
  return () => {
    if (index >= batches.length) {
      epoch += 1;
      index = 0;
      batches = makeBatches(examples, { ...s, seed: s.seed + epoch, padId });
    }
    return batches[index++]!;
  };
}

/** SUGGESTION_RULE applied to the points (at least two), with the steepest descent beside it. */
export function suggestLr(points: readonly LrPoint[]): LrSuggestion {
  if (points.length < 2) {
    throw new LoratuneError(
      "ERR_USAGE",
      `the range test diverged after ${points.length} step${points.length === 1 ? "" : "s"}: lower --start-lr`,
    );
  }
  let min = 0;
  for (let i = 1; i < points.length; i++) if (points[i]!.smoothed < points[min]!.smoothed) min = i;
  let steep = 0;
  let slope = Number.POSITIVE_INFINITY;
  for (let i = 1; i <= min; i++) {
    const a = points[i - 1]!;
    const b = points[i]!;
    const d = (b.smoothed - a.smoothed) / (Math.log10(b.lr) - Math.log10(a.lr));
    if (d < slope) [slope, steep] = [d, i];
  }
  const at = points[min]!;
  return {
    lr: at.lr / 10,
    rule: SUGGESTION_RULE,
    minLossLr: at.lr,
    minLoss: at.smoothed,
    steepestLr: points[steep]!.lr,
  };
}
