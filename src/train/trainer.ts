/**
 * The training loop: micro-batches with gradient accumulation (the loss of an optimizer step is the mean over all
 * label tokens of its micro-batches), global-norm clipping, AdamW with an LR schedule, periodic evaluation with
 * early stopping, checkpoints that resume exactly, cancellation by AbortSignal, and a stop with a clear message
 * on a non-finite loss or gradient. Works the same for LoRA and full-parameter training (the `params` given).
 */
import { join } from "node:path";
import type { Batch } from "../data/batch.ts";
import type { Example } from "../data/encode.ts";
import { LoratuneError } from "../errors.ts";
import type { Kernels } from "../kernels/types.ts";
import { allocateActivations } from "../model/activations.ts";
import type { Model } from "../model/model.ts";
import { Rng } from "../tensor/rng.ts";
import type { TrainableParam } from "../tensor/trainable.ts";
import { AdamW, loraPlusLrScales } from "./adamw.ts";
import { loadCheckpoint, saveCheckpoint, type TrainerState } from "./checkpoint.ts";
import { firstNonFiniteGrad, gradNorm, scaleGrads, zeroGrads } from "./grads.ts";
import { type Objective, type PreferenceMetrics, SftObjective } from "./objective.ts";
import { type LrSchedule, lrAt } from "./schedule.ts";
import type { EvalSample } from "./task-metric.ts";

export { evaluateBatches } from "./objective.ts";

export interface TrainSettings {
  /** Optimizer steps; when 0, `epochs` passes over the data decide. */
  steps: number;
  epochs: number;
  batchSize: number;
  gradAccum: number;
  seqLen: number;
  /** Activation checkpointing: keep each layer's input only and recompute the layer in backward (default false). */
  gradCheckpoint?: boolean;
  pack: boolean;
  shuffle: boolean;
  seed: number;
  lr: number;
  lrSchedule: LrSchedule;
  warmupSteps: number;
  weightDecay: number;
  /** LoRA+ (PEFT's loraplus_lr_ratio): lora_B and 1-D adapter tensors learn at this multiple of lr; 0 or unset: off. */
  loraplusLrRatio?: number;
  maxGradNorm: number;
  beta1: number;
  beta2: number;
  adamEps: number;
  evalEvery: number;
  earlyStopping: number;
  saveEvery: number;
  keepCheckpoints: number;
}

export type TrainEvent =
  | { type: "start"; totalSteps: number; startStep: number; batchesPerEpoch: number }
  | {
      type: "step";
      step: number;
      totalSteps: number;
      loss: number;
      lr: number;
      gradNorm: number;
      tokens: number;
      tokensPerS: number;
      elapsedS: number;
      /** Preference tuning: the step's pair metrics (rewards, accuracy, log-probs). */
      preference?: PreferenceMetrics;
    }
  | {
      type: "eval";
      step: number;
      /** The objective on the validation data: mean token loss, or the preference loss. */
      valLoss: number;
      /** exp(valLoss) for supervised runs; NaN for preference tuning (its loss is not a token loss). */
      valPerplexity: number;
      tokens: number;
      /** Preference tuning: held-out pair metrics (reward accuracy, margins, log-probs). */
      preference?: PreferenceMetrics;
      /** With --metric exact-match: held-out exact match and token accuracy of greedy completions. */
      exactMatch?: number;
      tokenAccuracy?: number;
      /** With --metric exact-match: the first validation prompts with the completions generated. */
      samples?: EvalSample[];
    }
  | { type: "checkpoint"; step: number; dir: string }
  | { type: "end"; step: number; reason: "completed" | "early_stopping" | "interrupted" };

/**
 * Where the optimizer steps run when not on the CPU kernels (LORATUNE_BACKEND=webgpu: webgpu/engine.ts). The
 * engine holds the trainable parameters and AdamW's state itself, runs a step's forward, backward, norm, clipping
 * and update of supervised fine-tuning (the mean loss over the step's label tokens, as SftObjective), and hands the
 * state back into `params` and the optimizer for checkpoints, the task metric and the end of the run.
 */
export interface TrainEngine {
  /** One optimizer step at `lr`; throws ERR_NONFINITE (before updating) on a non-finite loss or gradient. */
  step(micro: Batch[], lr: number): Promise<{ loss: number; gradNorm: number }>;
  /** Mean token loss over the batches' label tokens, no gradients. */
  evaluate(batches: Batch[]): Promise<{ loss: number; tokens: number; preference?: PreferenceMetrics }>;
  /** Copies the parameters into each param's data, and AdamW's moments and step count into `opt`. */
  syncTo(opt: AdamW): Promise<void>;
}

export interface TrainerInputs {
  kernels: Kernels;
  /** Run the steps there instead of on `kernels` (supervised fine-tuning from the start: no objective, no resume). */
  engine?: TrainEngine;
  model: Model;
  params: TrainableParam[];
  /** Supervised data (unused when `objective` is given). */
  train: Example[];
  val: Example[] | null;
  /** What to optimize; default: supervised fine-tuning on `train` (SftObjective). */
  objective?: Objective;
  settings: TrainSettings;
  /** Run directory: checkpoints/ goes here. */
  outDir: string;
  /** Checkpoint directory to resume from. */
  resumeFrom?: string;
  padId?: number;
  /** Digest of settings + data; a resume with a different one is refused. */
  fingerprint: string;
  signal?: AbortSignal;
  onEvent?: (e: TrainEvent) => void;
  /** The task metric on the validation rows (--metric exact-match), run after each validation loss. */
  taskMetric?: () => { exactMatch: number; tokenAccuracy: number; samples?: EvalSample[] };
}

export interface TrainResult {
  steps: number;
  /** already_complete: a resumed run that had nothing left to do (no step ran, nothing was written). */
  reason: "completed" | "early_stopping" | "interrupted" | "already_complete";
  lastLoss: number;
  bestValLoss: number | null;
  tokensPerS: number;
}

/**
 * Runs training to the end (or early stop / interruption); the caller saves the final weights.
 * Yields to the event loop after every step so signals (Ctrl-C) and progress output are handled promptly.
 */
export async function runTraining(inp: TrainerInputs): Promise<TrainResult> {
  const { kernels: k, model, params, settings: s, engine } = inp;
  if (engine && (inp.resumeFrom || inp.objective)) {
    throw new LoratuneError(
      "ERR_USAGE",
      "a training engine runs supervised fine-tuning from the start only (no resume)",
    );
  }
  const opt = new AdamW(
    params,
    { beta1: s.beta1, beta2: s.beta2, eps: s.adamEps, weightDecay: s.weightDecay },
    loraPlusLrScales(params, s.loraplusLrRatio ?? 0),
  );
  const objective: Objective = inp.objective ?? new SftObjective(inp.train, inp.val, s, inp.padId ?? 0);
  const data = new EpochBatches(objective, s);
  const totalSteps = data.plannedSteps();
  let state: TrainerState = {
    step: 0,
    epoch: 0,
    index: 0,
    rngState: new Rng(s.seed ^ 0x5eed).getState(),
    bestValLoss: null,
    evalsWithoutImprovement: 0,
    fingerprint: inp.fingerprint,
  };
  if (inp.resumeFrom) state = resume(inp.resumeFrom, params, opt, inp.fingerprint);
  if (isComplete(state, s, totalSteps)) return alreadyComplete(state);
  const rng = new Rng(0);
  rng.setState(state.rngState);
  // An engine keeps its own activations: the CPU arena is not allocated for it.
  const acts = engine
    ? null
    : allocateActivations(model, objective.rows, s.seqLen, {
        checkpoint: s.gradCheckpoint ?? false,
        wholeBatch: objective.wholeBatch ?? false,
      });
  const valBatches = objective.valBatches;
  const emit = inp.onEvent ?? (() => {});
  emit({ type: "start", totalSteps, startStep: state.step, batchesPerEpoch: data.count(0) });

  const started = performance.now();
  let tokensSeen = 0;
  let lastLoss = Number.NaN;
  let reason: TrainResult["reason"] = "completed";
  let lastCheckpointStep = inp.resumeFrom ? state.step : -1;
  const checkpoint = async () => {
    await engine?.syncTo(opt);
    lastCheckpointStep = state.step;
    state.rngState = rng.getState();
    const dir = saveCheckpoint(join(inp.outDir, "checkpoints"), params, opt, state, s.keepCheckpoints);
    emit({ type: "checkpoint", step: state.step, dir });
  };
  let lastEvalStep = -1;
  const evaluate = async () => {
    const {
      loss: valLoss,
      tokens,
      preference,
    } = engine ? await engine.evaluate(valBatches!) : objective.evaluate(k, model, acts!, valBatches!);
    lastEvalStep = state.step;
    if (inp.taskMetric) await engine?.syncTo(opt); // the metric generates with the CPU model's adapter
    const task = inp.taskMetric?.();
    const scores = task
      ? {
          exactMatch: task.exactMatch,
          tokenAccuracy: task.tokenAccuracy,
          ...(task.samples ? { samples: task.samples } : {}),
        }
      : {};
    const valPerplexity = preference ? Number.NaN : Math.exp(valLoss);
    emit({
      type: "eval",
      step: state.step,
      valLoss,
      valPerplexity,
      tokens,
      ...scores,
      ...(preference ? { preference } : {}),
    });
    if (state.bestValLoss === null || valLoss < state.bestValLoss) {
      state.bestValLoss = valLoss;
      state.evalsWithoutImprovement = 0;
    } else {
      state.evalsWithoutImprovement += 1;
    }
  };
  while (state.step < totalSteps && !(s.steps === 0 && state.epoch >= s.epochs)) {
    if (inp.signal?.aborted) {
      reason = "interrupted";
      break;
    }
    const micro = data.take(state, s.gradAccum, s.steps === 0 ? s.epochs : Number.POSITIVE_INFINITY);
    const lr = lrAt(state.step, s.lr, s.lrSchedule, s.warmupSteps, totalSteps);
    let loss: number;
    let norm: number;
    let preference: PreferenceMetrics | undefined;
    if (engine) ({ loss, gradNorm: norm } = await engine.step(micro, lr));
    else {
      zeroGrads(k, params);
      ({ loss, preference } = objective.step(k, model, acts!, micro, () => rng.next()));
      norm = gradNorm(k, params);
      if (!Number.isFinite(loss) || !Number.isFinite(norm)) throw nonFiniteError(k, state.step + 1, loss, params);
      if (s.maxGradNorm > 0 && norm > s.maxGradNorm) scaleGrads(k, params, s.maxGradNorm / (norm + 1e-6));
      opt.update(k, lr);
    }
    state.step += 1;
    lastLoss = loss;
    tokensSeen += micro.reduce((n, b) => n + b.B * b.T, 0);
    const elapsedS = (performance.now() - started) / 1000;
    emit({
      type: "step",
      step: state.step,
      totalSteps,
      loss,
      lr,
      gradNorm: norm,
      tokens: tokensSeen,
      tokensPerS: tokensSeen / elapsedS,
      elapsedS,
      ...(preference ? { preference } : {}),
    });
    if (valBatches && s.evalEvery > 0 && (state.step % s.evalEvery === 0 || state.step === totalSteps)) {
      await evaluate();
      if (s.earlyStopping > 0 && state.evalsWithoutImprovement >= s.earlyStopping) {
        reason = "early_stopping";
        break;
      }
    }
    if (s.saveEvery > 0 && state.step % s.saveEvery === 0) await checkpoint();
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
  if (reason !== "interrupted" && valBatches && lastEvalStep !== state.step) await evaluate(); // --eval-every 0: once, at the end
  // The last state is always kept: an interrupted run resumes from it, a finished one can be extended from it.
  if (lastCheckpointStep !== state.step) await checkpoint();
  await engine?.syncTo(opt); // the caller saves the trained parameters
  emit({ type: "end", step: state.step, reason });
  const elapsed = (performance.now() - started) / 1000;
  return {
    steps: state.step,
    reason,
    lastLoss,
    bestValLoss: state.bestValLoss,
    tokensPerS: elapsed > 0 ? tokensSeen / elapsed : 0,
  };
}

/** The result of a resumed run that had nothing left to do (no step ran). */
export function alreadyComplete(state: TrainerState): TrainResult {
  return {
    steps: state.step,
    reason: "already_complete",
    lastLoss: Number.NaN,
    bestValLoss: state.bestValLoss,
    tokensPerS: 0,
  };
}

/** Whether a (resumed) run has nothing left to do: every step done, or early stopping already triggered. */
export function isComplete(state: TrainerState, s: TrainSettings, totalSteps: number): boolean {
  if (state.step >= totalSteps) return true;
  if (s.steps === 0 && state.epoch >= s.epochs) return true;
  return s.earlyStopping > 0 && state.evalsWithoutImprovement >= s.earlyStopping;
}

/**
 * Optimizer steps the run will take: --steps, or every micro-batch of --epochs passes grouped by --grad-accum
 * (a last partial group is a step of its own). Builds the epochs' batches, which the run reuses.
 */
export function plannedSteps(examples: Example[], s: TrainSettings, padId: number): number {
  return new EpochBatches(new SftObjective(examples, null, s, padId), s).plannedSteps();
}

/** plannedSteps() for any objective. */
export function plannedObjectiveSteps(objective: Objective, s: TrainSettings): number {
  return new EpochBatches(objective, s).plannedSteps();
}

function resume(from: string, params: TrainableParam[], opt: AdamW, fingerprint: string): TrainerState {
  const state = loadCheckpoint(from, params, opt);
  if (state.fingerprint !== fingerprint) {
    throw new LoratuneError(
      "ERR_CHECKPOINT",
      `${from}: this checkpoint was made with different settings or data; resume with the run's original settings (see the run's config.yaml)`,
    );
  }
  return state;
}

function nonFiniteError(k: Kernels, step: number, loss: number, params: TrainableParam[]): LoratuneError {
  const bad = firstNonFiniteGrad(k, params);
  const what = !Number.isFinite(loss)
    ? `the loss is ${loss}`
    : `the gradient of ${bad?.name ?? "a parameter"} is not finite`;
  return new LoratuneError(
    "ERR_NONFINITE",
    `step ${step}: ${what}${!Number.isFinite(loss) && bad ? ` (first non-finite gradient: ${bad.name})` : ""}. ` +
      "Lower the learning rate (--lr) or enable gradient clipping (--max-grad-norm 1.0); the last checkpoint is kept.",
  );
}

/** The objective's deterministic batches per epoch, read in order from a saved position. */
class EpochBatches {
  constructor(
    private readonly objective: Objective,
    private readonly s: TrainSettings,
  ) {}

  private epochBatches(epoch: number): Batch[] {
    return this.objective.epochBatches(epoch);
  }

  count(epoch: number): number {
    return this.epochBatches(epoch).length;
  }

  /** See plannedSteps(). Packing can change the batch count per epoch, so every epoch is counted. */
  plannedSteps(): number {
    if (this.s.steps > 0) return this.s.steps;
    let micro = this.s.pack ? 0 : this.s.epochs * this.count(0);
    for (let e = 0; this.s.pack && e < this.s.epochs; e++) micro += this.count(e);
    return Math.max(1, Math.ceil(micro / this.s.gradAccum));
  }

  /** The next `n` micro-batches from state's position (advancing it), not crossing `maxEpochs`. */
  take(state: TrainerState, n: number, maxEpochs: number): Batch[] {
    const out: Batch[] = [];
    while (out.length < n && state.epoch < maxEpochs) {
      const batches = this.epochBatches(state.epoch);
      out.push(batches[state.index]!);
      state.index += 1;
      if (state.index >= batches.length) {
        state.epoch += 1;
        state.index = 0;
      }
    }
    return out;
  }
}
