/**
 * `train` with LORATUNE_BACKEND=webgpu: the run's steps on a GPU through the optional `webgpu` package (Dawn),
 * as the CPU training loop's engine (webgpu/engine.ts). What the GPU trainer does not do is refused before the run
 * directory is touched: resuming (AdamW's state would have to go back to the GPU), preference tuning, and (from
 * the GPU trainer's own checks) full fine-tuning, DoRA, dropout, quantized weights and non-Llama-style families.
 */
import { LoratuneError } from "../errors.ts";
import type { Model } from "../model/model.ts";
import type { TrainableParam } from "../tensor/trainable.ts";
import { createGpuTrainEngine, type GpuTrainEngine } from "../webgpu/engine.ts";
import { openNodeWebGpu } from "../webgpu/node-device.ts";
import type { TrainRunOptions } from "./train.ts";

/** The GPU engine for this run, with close() freeing the trainer and the device. */
export async function openTrainEngine(
  o: TrainRunOptions,
  run: { model: Model; params: TrainableParam[]; resuming: boolean; preference: boolean },
  say: (message: string) => void,
): Promise<GpuTrainEngine & { close(): void }> {
  const refuse = (what: string) => {
    throw new LoratuneError(
      "ERR_USAGE",
      `LORATUNE_BACKEND=webgpu: ${what}; unset LORATUNE_BACKEND to run it on the CPU`,
    );
  };
  if (run.resuming) refuse("resuming a run is not supported (AdamW's state lives on the GPU)");
  if (run.preference) refuse(`--method ${o.method} (preference tuning) is not supported; supervised fine-tuning is`);
  if (o.full) refuse("--full is not supported; LoRA trains on WebGPU");
  const { device, adapter } = await openNodeWebGpu();
  try {
    const engine = await createGpuTrainEngine(
      device,
      {
        model: run.model,
        maxRows: o.batchSize,
        maxSeqLen: o.seqLen,
        optimizer: { beta1: o.beta1, beta2: o.beta2, eps: o.adamEps, weightDecay: o.weightDecay },
        maxGradNorm: o.maxGradNorm,
        loraplusLrRatio: o.loraplusLrRatio ?? 0,
      },
      run.params,
    );
    const mib = (b: number) => `${(b / 2 ** 20).toFixed(1)} MiB`;
    say(`loratune: training on WebGPU (${adapter}); ${mib(engine.trainer.memory.totalBytes)} on the device`);
    return {
      ...engine,
      close: () => {
        engine.destroy();
        device.destroy();
      },
    };
  } catch (err) {
    device.destroy();
    throw err;
  }
}
