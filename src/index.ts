/**
 * loratune's public library API (re-exports only). The CLI (`loratune`) is built on exactly these functions.
 * Each takes only what differs from the defaults; the defaults, bounds and help of every option are in the
 * option tables (TRAIN_OPTIONS, EVAL_OPTIONS, GENERATE_OPTIONS, MERGE_OPTIONS, SWEEP_OPTIONS) that the CLI's flags
 * come from, and by library name in TRAIN_DEFAULTS, EVAL_DEFAULTS, GENERATE_DEFAULTS, MERGE_DEFAULTS and
 * SWEEP_DEFAULTS. Errors name the options as the caller passed them (`seqLen`; the CLI's say `--seq-len`).
 */
export {
  EVAL_DEFAULTS,
  EVAL_OPTIONS,
  type EvaluateOptions,
  type EvaluateProgress,
  type EvaluateResult,
  evaluate,
} from "./api/evaluate.ts";
export { EXPORT_OPTIONS, type ExportOptions, type ExportResult, exportModel } from "./api/export.ts";
export {
  EXPORT_JOB_OPTIONS,
  type ExportJobOptions,
  type ExportJobResult,
  exportJob,
} from "./api/export-job.ts";
export {
  GENERATE_DEFAULTS,
  GENERATE_OPTIONS,
  type GeneratedToken,
  type GenerateOptions,
  type GenerateOutput,
  generate,
  generateStream,
} from "./api/generate.ts";
export { LR_FIND_OPTIONS, type LrFindOptions, type LrFindResult, lrFind } from "./api/lr-find.ts";
export { MERGE_DEFAULTS, MERGE_OPTIONS, type MergeOptions, type MergeResult, merge } from "./api/merge.ts";
export {
  type LoadedModel,
  type LoadModelOptions,
  loadAdapter,
  loadForInference,
  loadModel,
} from "./api/models.ts";
export type { OptionDef, OptionKind, OptionValue } from "./api/options.ts";
export {
  type TrainHooks,
  type TrainOptions,
  type TrainOutcome,
  type TrainRunOptions,
  type TrainSummary,
  train,
} from "./api/train.ts";
export { TRAIN_DEFAULTS, TRAIN_OPTIONS } from "./api/train-options.ts";
export { type ErrorCode, isLoratuneError, LoratuneError } from "./errors.ts";
export { readSafetensors, readSafetensorsHeader } from "./io/safetensors.ts";
export { writeSafetensors } from "./io/safetensors-write.ts";
export { getKernels, type Kernels } from "./kernels/index.ts";
export { adapterParams, attachAdapter, attachLora, detachAdapter, loraParams } from "./lora/adapter.ts";
export { defaultLoraConfig, type LoraConfig, matchesTarget } from "./lora/config.ts";
export { mergeAdapter, mergeLora } from "./lora/merge.ts";
export type { AdapterConfig, AdapterMethod, AttachedAdapter } from "./lora/method.ts";
export { readAdapterConfig, saveAdapter } from "./lora/peft-files.ts";
export { registeredMethods, registerMethod } from "./lora/registry.ts";
export { registerFamily, supportedModelTypes } from "./model/arch/registry.ts";
export type { ModelFamily, ParamSpec } from "./model/arch/spec.ts";
export type { ModelConfig } from "./model/config.ts";
export { readModelConfig } from "./model/config-file.ts";
export { DEMO_MODEL_DIR } from "./model/load.ts";
export type { Model } from "./model/model.ts";
export { type SweepResult, sweep } from "./sweep/library.ts";
export { SWEEP_DEFAULTS, SWEEP_OPTIONS, type SweepOptions } from "./sweep/options.ts";
export { sweepReportData } from "./sweep/report-data.ts";
export { resumeSweep, type SweepHooks, type SweepPlan, startSweep } from "./sweep/sweep.ts";
export { loadTokenizer } from "./tokenizer/load-tokenizer.ts";
export { Tokenizer } from "./tokenizer/tokenizer.ts";
export type { TrainEvent } from "./train/trainer.ts";
