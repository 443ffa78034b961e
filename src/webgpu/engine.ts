/// <reference types="@webgpu/types" />
/**
 * The GPU trainer as the CPU training loop's engine (train/trainer.ts TrainEngine): runTraining keeps the data
 * order, schedule, events, evaluation cadence, early stopping and checkpoints, and the steps run on the GPU. The
 * engine hands the adapter and AdamW's moments back into the loop's parameters and optimizer whenever the loop
 * writes them (checkpoints, the task metric, the end of the run).
 */

import type { TrainableParam } from "../tensor/trainable.ts";
import type { AdamW } from "../train/adamw.ts";
import type { TrainEngine } from "../train/trainer.ts";
import { createGpuLoraTrainer } from "./trainer.ts";
import type { GpuLoraTrainer, GpuLoraTrainerOptions } from "./trainer-api.ts";

export interface GpuTrainEngine extends TrainEngine {
  readonly trainer: GpuLoraTrainer;
  destroy(): void;
}

/** The engine over a new GPU trainer for `o.model`, whose trainable parameters the loop knows as `params`. */
export async function createGpuTrainEngine(
  device: GPUDevice,
  o: GpuLoraTrainerOptions,
  params: readonly TrainableParam[],
): Promise<GpuTrainEngine> {
  const trainer = await createGpuLoraTrainer(device, o);
  const names = trainer.params.map((p) => p.name);
  if (names.join("\n") !== params.map((p) => p.name).join("\n")) {
    trainer.destroy();
    throw new Error(
      `GPU trainer parameters [${names.join(", ")}] differ from the run's [${params.map((p) => p.name)}]`,
    );
  }
  return {
    trainer,
    step: (micro, lr) => trainer.step(micro, lr),
    evaluate: (batches) => trainer.evalLoss(batches),
    async syncTo(opt: AdamW) {
      await trainer.copyAdapterToModel(); // the LoRA tensors are the params' data arrays
      const { m, v } = await trainer.optimizerState();
      for (let i = 0; i < m.length; i++) {
        opt.m[i]!.set(m[i]!);
        opt.v[i]!.set(v[i]!);
      }
      opt.step = trainer.stepsDone;
    },
    destroy: () => trainer.destroy(),
  };
}
