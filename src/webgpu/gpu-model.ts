/// <reference types="@webgpu/types" />
/**
 * The model on the GPU: the frozen base weights uploaded once (linears and tables in the model's f32 or bf16,
 * norms and biases f32, RoPE tables for the positions a row can hold) and each LoRA adapter's trainable state
 * (A, B, their gradients, AdamW's moments, and the forward's xa = s·x·Aᵀ saved for backward).
 * Shapes as the CPU model's: W [out, in]; A [r, in]; B [out, r]; xa [N, r].
 */
import { upload } from "../kernels/webgpu/buffers.ts";
import type { Gpu } from "../kernels/webgpu/gpu.ts";
import type { LlamaLayer, LlamaTop } from "../model/arch/llama-style.ts";
import type { Model } from "../model/model.ts";
import type { Linear } from "../nn/linear.ts";
import type { StoredTensor } from "../tensor/stored-tensor.ts";
import { loraOf } from "./support.ts";

/** A base weight on the GPU with the format its matmuls read. */
export interface GpuWeight {
  buffer: GPUBuffer;
  format: "f32" | "bf16";
}

/** A LoRA adapter's tensors on the GPU (f32). */
export interface GpuLora {
  r: number;
  /** alpha/r (or alpha/√r), as the attached adapter holds it. */
  scale: number;
  A: GPUBuffer; // [r, in]
  B: GPUBuffer; // [out, r]
  dA: GPUBuffer;
  dB: GPUBuffer;
  mA: GPUBuffer;
  vA: GPUBuffer;
  mB: GPUBuffer;
  vB: GPUBuffer;
  xa: GPUBuffer; // [N, r]
  /** The CPU adapter's A and B (copyAdapterToModel writes into them). */
  host: { A: Float32Array; B: Float32Array };
}

export interface GpuLinear {
  name: string;
  nIn: number;
  nOut: number;
  weight: GpuWeight;
  bias: GPUBuffer | null; // [out]
  lora: GpuLora | null;
}

export interface GpuLayer {
  inputNorm: GPUBuffer; // [C]
  postNorm: GPUBuffer; // [C]
  q: GpuLinear;
  k: GpuLinear;
  v: GpuLinear;
  o: GpuLinear;
  gate: GpuLinear;
  up: GpuLinear;
  down: GpuLinear;
}

export interface GpuModel {
  embed: GpuWeight; // [V, C]
  /** The head [V, C]: the embedding's buffer when tied. */
  head: GpuWeight;
  finalNorm: GPUBuffer; // [C]
  ropeCos: GPUBuffer; // [positions, hd/2]
  ropeSin: GPUBuffer;
  /** Positions the RoPE tables hold (the largest position id + 1 a batch may use). */
  positions: number;
  layers: GpuLayer[];
  /** Every adapted linear in model order (the CPU trainer's parameter order: A then B of each). */
  adapted: GpuLinear[];
  /** Every buffer made here, for destroy(). */
  buffers: GPUBuffer[];
}

/** Uploads `model`'s weights and its LoRA adapters (activations of N tokens: xa). Call checkGpuTrainable first. */
export function uploadModel(gpu: Gpu, model: Model, N: number, positions: number): GpuModel {
  const buffers: GPUBuffer[] = [];
  const keep = (b: GPUBuffer) => {
    buffers.push(b);
    return b;
  };
  const weight = (t: StoredTensor, label: string): GpuWeight => ({
    buffer: keep(upload(gpu, t.data as Float32Array | Uint16Array, label)),
    format: t.dtype as "f32" | "bf16",
  });
  const zeros = (n: number, label: string) => keep(upload(gpu, new Float32Array(n), label));
  const adapted: GpuLinear[] = [];
  const linear = (lin: Linear): GpuLinear => {
    const a = loraOf(lin);
    let lora: GpuLora | null = null;
    if (a) {
      const nA = a.r * lin.inFeatures;
      const nB = lin.outFeatures * a.r;
      lora = {
        r: a.r,
        scale: a.scale,
        A: keep(upload(gpu, a.A, `${lin.name}.lora_A`)),
        B: keep(upload(gpu, a.B, `${lin.name}.lora_B`)),
        dA: zeros(nA, `${lin.name}.lora_A.grad`),
        dB: zeros(nB, `${lin.name}.lora_B.grad`),
        mA: zeros(nA, `${lin.name}.lora_A.adam_m`),
        vA: zeros(nA, `${lin.name}.lora_A.adam_v`),
        mB: zeros(nB, `${lin.name}.lora_B.adam_m`),
        vB: zeros(nB, `${lin.name}.lora_B.adam_v`),
        xa: zeros(N * a.r, `${lin.name}.lora_xa`),
        host: { A: a.A, B: a.B },
      };
    }
    const g: GpuLinear = {
      name: lin.name,
      nIn: lin.inFeatures,
      nOut: lin.outFeatures,
      weight: weight(lin.weight, `${lin.name}.weight`),
      bias: lin.bias ? keep(upload(gpu, lin.bias, `${lin.name}.bias`)) : null,
      lora,
    };
    return g;
  };
  const embed = weight(model.embed, "embed_tokens");
  const head = model.lmHead === model.embed ? embed : weight(model.lmHead, "lm_head");
  const top = model.top as LlamaTop;
  const half = model.config.headDim / 2;
  const layers = (model.layers as LlamaLayer[]).map((w) => ({
    inputNorm: keep(upload(gpu, w.inputNorm.data, w.inputNorm.name)),
    postNorm: keep(upload(gpu, w.postNorm.data, w.postNorm.name)),
    q: linear(w.q),
    k: linear(w.k),
    v: linear(w.v),
    o: linear(w.o),
    gate: linear(w.gate),
    up: linear(w.up),
    down: linear(w.down),
  }));
  // model.linears' order (the CPU trainer's): the family lists each block's linears in its order.
  const byName = new Map(layers.flatMap((l) => [l.q, l.k, l.v, l.o, l.gate, l.up, l.down]).map((g) => [g.name, g]));
  for (const lin of model.linears) {
    const g = byName.get(lin.name);
    if (g?.lora) adapted.push(g);
  }
  return {
    embed,
    head,
    finalNorm: keep(upload(gpu, top.norm.data, top.norm.name)),
    ropeCos: keep(upload(gpu, top.rope.cos.subarray(0, positions * half), "rope.cos")),
    ropeSin: keep(upload(gpu, top.rope.sin.subarray(0, positions * half), "rope.sin")),
    positions,
    layers,
    adapted,
    buffers,
  };
}
