/**
 * Attaching LoRA to a model: one (A, B) pair per targeted linear, PEFT's initialisation, and the flat list of
 * trainable parameters (named with PEFT's keys) that the optimizer and the adapter writer walk.
 */
import { LoratuneError } from "../errors.ts";
import { layerOfName, type Model } from "../model/model.ts";
import type { Linear, Uniform } from "../nn/linear.ts";
import type { TrainableParam } from "../tensor/trainable.ts";
import { type LoraConfig, matchesTarget, moduleRankAndScale } from "./config.ts";

export function peftKey(linear: Linear, which: "lora_A" | "lora_B"): string {
  return `base_model.model.${linear.name}.${which}.weight`;
}

/**
 * Adds LoRA pairs to every linear the config targets; returns the adapted linears.
 * `uniform` draws the initialisation (PEFT: A kaiming-uniform(a=√5) = U(±1/√in), B = 0).
 */
export function attachLora(model: Model, config: LoraConfig, uniform: Uniform, withGrad = true): Linear[] {
  const adapted: Linear[] = [];
  for (const lin of model.linears) {
    if (!matchesTarget(config, lin.name, layerOfName(model, lin.name))) continue;
    const { r, scale } = moduleRankAndScale(config, lin.name);
    const A = new Float32Array(r * lin.inFeatures);
    const B = new Float32Array(lin.outFeatures * r);
    initLora(A, B, lin.inFeatures, r, config.initLoraWeights, uniform);
    lin.lora = {
      r,
      scale,
      dropout: config.loraDropout,
      A,
      B,
      dA: withGrad ? new Float32Array(A.length) : null,
      dB: withGrad ? new Float32Array(B.length) : null,
    };
    adapted.push(lin);
  }
  if (adapted.length === 0) {
    const names = [...new Set(model.linears.map((l) => l.name.split(".").at(-1)))];
    throw new LoratuneError(
      "ERR_ADAPTER_CONFIG",
      `target_modules ${JSON.stringify(config.targetModules)} matches no linear layer of this model (its linear layers are named ${names.join(", ")})`,
    );
  }
  return adapted;
}

function initLora(
  A: Float32Array,
  B: Float32Array,
  nIn: number,
  r: number,
  init: LoraConfig["initLoraWeights"],
  uniform: Uniform,
): void {
  if (init === "gaussian") {
    const std = 1 / r;
    for (let i = 0; i < A.length; i++) A[i] = gaussian(uniform) * std;
    return;
  }
  const boundA = 1 / Math.sqrt(nIn);
  for (let i = 0; i < A.length; i++) A[i] = (2 * uniform() - 1) * boundA;
  if (init === false) {
    const boundB = 1 / Math.sqrt(r);
    for (let i = 0; i < B.length; i++) B[i] = (2 * uniform() - 1) * boundB;
  }
}

function gaussian(uniform: Uniform): number {
  const u1 = Math.max(uniform(), 1e-300);
  return Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * uniform());
}

/** Trainable parameters of the attached LoRA pairs, in PEFT key order (A then B per module). */
export function loraParams(model: Model): TrainableParam[] {
  const params: TrainableParam[] = [];
  for (const lin of model.linears) {
    const lora = lin.lora;
    if (!lora?.dA || !lora.dB) continue;
    params.push({ name: peftKey(lin, "lora_A"), shape: [lora.r, lin.inFeatures], data: lora.A, grad: lora.dA });
    params.push({ name: peftKey(lin, "lora_B"), shape: [lin.outFeatures, lora.r], data: lora.B, grad: lora.dB });
  }
  return params;
}

/** Every attached LoRA tensor (with or without gradients), in PEFT key order. */
export function loraTensors(model: Model): { name: string; shape: number[]; data: Float32Array }[] {
  const out: { name: string; shape: number[]; data: Float32Array }[] = [];
  for (const lin of model.linears) {
    const lora = lin.lora;
    if (!lora) continue;
    out.push({ name: peftKey(lin, "lora_A"), shape: [lora.r, lin.inFeatures], data: lora.A });
    out.push({ name: peftKey(lin, "lora_B"), shape: [lin.outFeatures, lora.r], data: lora.B });
  }
  return out;
}

/** Removes every LoRA pair (back to the plain base model). */
export function detachLora(model: Model): void {
  for (const lin of model.linears) lin.lora = null;
}
