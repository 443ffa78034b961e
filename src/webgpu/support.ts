/**
 * What the GPU trainer can train, checked before anything is allocated: the plain Llama-style block (RMSNorm,
 * rotate-half RoPE, grouped-query causal attention, SwiGLU; q/k/v biases allowed), f32 or bf16 base weights,
 * and LoRA adapters without dropout. Each refusal is a LoratuneError("ERR_UNSUPPORTED") naming what and why.
 */
import { LoratuneError } from "../errors.ts";
import type { LlamaArch, LlamaLayer } from "../model/arch/llama-style.ts";
import type { Model } from "../model/model.ts";
import type { Linear } from "../nn/linear.ts";

/** Families built by llamaStyleFamily whose plain form the GPU block computes (Gemma's variations are refused). */
const LLAMA_STYLE = new Set(["llama", "mistral", "qwen2", "qwen3"]);

/** The WGSL weight formats: what `--dtype` may be for a GPU run. */
const GPU_WEIGHT_FORMATS = new Set(["f32", "bf16"]);

/** The fields of lora/methods/lora.ts's LoraAdapter that the GPU trainer reads (structurally, without importing it). */
export interface LoraView {
  method: "lora";
  nIn: number;
  nOut: number;
  r: number;
  scale: number;
  dropout: number;
  A: Float32Array; // [r, in]
  B: Float32Array; // [out, r]
}

function refuse(what: string): never {
  throw new LoratuneError("ERR_UNSUPPORTED", `webgpu trainer: ${what}`);
}

/** The LoRA adapter of `lin` as the GPU trainer reads it, or null; refuses other methods and dropout. */
export function loraOf(lin: Linear): LoraView | null {
  const a = lin.adapter as (Partial<LoraView> & { method: string }) | null;
  if (a === null) return null;
  if (a.method !== "lora" || !(a.A instanceof Float32Array) || !(a.B instanceof Float32Array)) {
    refuse(`${lin.name} has a ${a.method} adapter; only LoRA trains on WebGPU (DoRA and the other methods: CPU)`);
  }
  if (a.dropout !== 0) {
    refuse(
      `${lin.name} has LoRA dropout ${a.dropout}; WebGPU training needs --dropout 0 (the CPU draws the masks from the run's RNG, which a GPU run does not replay)`,
    );
  }
  return a as LoraView;
}

/** Throws unless the GPU trainer computes `model` exactly as the CPU block does for rows of `seqLen` tokens. */
export function checkGpuTrainable(model: Model, seqLen: number): void {
  const c = model.config;
  const f = model.family;
  if (!LLAMA_STYLE.has(f.name)) {
    refuse(
      `the ${f.name} family is not supported; the GPU block is the Llama-style one (${[...LLAMA_STYLE].join(", ")})`,
    );
  }
  const arch = c.arch as LlamaArch;
  if (arch.qkNorm) refuse(`${f.name} with q/k norms (Qwen3's) is not supported yet`);
  if (arch.normOffset !== 0 || arch.embedScale !== 1 || arch.mlpAct !== "silu") {
    refuse(`${f.name} with Gemma's norms, embedding scale or GeGLU is not supported`);
  }
  if ((f.logitSoftcap?.(c) ?? 0) > 0) refuse("a logit soft-cap is not supported");
  if (c.headDim % 2 !== 0) refuse(`head_dim ${c.headDim} is odd; RoPE rotates pairs`);
  if (seqLen > model.positions) {
    refuse(`rows of ${seqLen} tokens exceed the ${model.positions} positions the model was loaded for`);
  }
  for (const w of model.layers as LlamaLayer[]) {
    if (w.window > 0 && seqLen > w.window) {
      refuse(`a sliding window of ${w.window} tokens (shorter than the ${seqLen}-token rows) is not supported`);
    }
  }
  const tensors = [
    { name: "the embedding table", dtype: model.embed.dtype },
    { name: "the output head", dtype: model.lmHead.dtype },
    ...model.linears.map((l) => ({ name: l.name, dtype: l.weight.dtype })),
  ];
  for (const t of tensors) {
    if (!GPU_WEIGHT_FORMATS.has(t.dtype)) refuse(`${t.name} is ${t.dtype}; the GPU matmuls read f32 or bf16 weights`);
  }
  if (model.dEmbed !== null || model.dLmHead !== null) refuse("full fine-tuning is not supported; train LoRA");
  for (const lin of model.linears) {
    if (lin.dWeight !== null || lin.dBias !== null) refuse(`${lin.name} trains its base weight; only LoRA trains`);
  }
  for (const w of model.layers as LlamaLayer[]) {
    if (w.inputNorm.grad !== null || w.postNorm.grad !== null) refuse("trained norm weights are not supported");
  }
  if (!model.linears.some((l) => loraOf(l) !== null)) refuse("the model has no LoRA adapter attached (attachLora)");
}
