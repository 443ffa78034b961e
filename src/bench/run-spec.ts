/**
 * Runs one worker spec in this process: a model workload (train / prefill / decode), the matmul peak, or writing
 * a random model directory for the PyTorch side. worker.ts calls it in a child process; tests call it directly.
 */
import type { Kernels } from "../kernels/types.ts";
import { runDecodeWorkload, runPrefillWorkload } from "./inference-workload.ts";
import { writeBenchGguf } from "./llama-gguf.ts";
import { measurePeak } from "./peak.ts";
import { writeRandomModelDir } from "./random-model.ts";
import type { WorkerResult, WorkerSpec } from "./spec.ts";
import { runTrainWorkload } from "./train-workload.ts";

export function runSpec(k: Kernels, spec: WorkerSpec): WorkerResult {
  switch (spec.kind) {
    case "train":
      return runTrainWorkload(k, spec);
    case "prefill":
      return runPrefillWorkload(k, spec);
    case "decode":
      return runDecodeWorkload(k, spec);
    case "peak":
      return measurePeak(k, spec);
    case "write-model":
      return { kind: "write-model", dir: writeRandomModelDir(k, spec.shape, spec.dir, spec.seed) };
    case "write-gguf":
      writeBenchGguf(k, spec.shape, spec.dtype, spec.seed, spec.path);
      return { kind: "write-gguf", path: spec.path };
  }
}
