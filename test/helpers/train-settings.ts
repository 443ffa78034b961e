/** Trainer settings for short in-process unit-test runs: constant LR, no shuffle, no eval or checkpoint cadence. */
import type { TrainSettings } from "../../src/train/trainer.ts";

export function testTrainSettings(overrides: Partial<TrainSettings> = {}): TrainSettings {
  return {
    steps: 4,
    epochs: 1,
    batchSize: 4,
    gradAccum: 1,
    seqLen: 8,
    pack: false,
    shuffle: false,
    seed: 1,
    lr: 5e-2,
    lrSchedule: "constant",
    warmupSteps: 0,
    weightDecay: 0,
    maxGradNorm: 0,
    beta1: 0.9,
    beta2: 0.999,
    adamEps: 1e-8,
    evalEvery: 0,
    earlyStopping: 0,
    saveEvery: 0,
    keepCheckpoints: 1,
    ...overrides,
  };
}
