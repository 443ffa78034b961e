/**
 * loratune's public library API (re-exports only). The CLI (`loratune`) is built on exactly these functions.
 */
export { type EvaluateOptions, type EvaluateResult, evaluate } from "./api/evaluate.ts";
export { type GenerateOptions, type GenerateOutput, generate } from "./api/generate.ts";
export { type MergeOptions, merge } from "./api/merge.ts";
export { type LoadedModel, loadForInference } from "./api/models.ts";
export { type TrainHooks, type TrainOptions, type TrainSummary, train } from "./api/train.ts";
export { type ErrorCode, isLoratuneError, LoratuneError } from "./errors.ts";
export { readSafetensors, readSafetensorsHeader } from "./io/safetensors.ts";
export { writeSafetensors } from "./io/safetensors-write.ts";
export { getKernels, type Kernels } from "./kernels/index.ts";
export { attachLora, loraParams } from "./lora/adapter.ts";
export { defaultLoraConfig, type LoraConfig, matchesTarget } from "./lora/config.ts";
export { mergeLora } from "./lora/merge.ts";
export { loadAdapter, readAdapterConfig, saveAdapter } from "./lora/peft-files.ts";
export { registerFamily, supportedModelTypes } from "./model/arch/registry.ts";
export type { ModelFamily, ParamSpec } from "./model/arch/spec.ts";
export { type ModelConfig, readModelConfig } from "./model/config.ts";
export { DEMO_MODEL_DIR, loadModel } from "./model/load.ts";
export type { Model } from "./model/model.ts";
export { loadTokenizer, Tokenizer } from "./tokenizer/tokenizer.ts";
export type { TrainEvent } from "./train/trainer.ts";
