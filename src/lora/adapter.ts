/**
 * Attaching an adapter to a model, for any registered method (LoRA by default): the linears its config targets
 * (PEFT's target_modules and layers_to_transform), one attached adapter per linear from the method, and the flat
 * lists of its tensors (named with PEFT's keys) that the optimizer, checkpoints and the adapter writer walk.
 */
import { LoratuneError } from "../errors.ts";
import { layerOfName, type Model } from "../model/model.ts";
import type { Uniform } from "../nn/adapter-hooks.ts";
import type { Linear } from "../nn/linear.ts";
import type { TrainableParam } from "../tensor/trainable.ts";
import { type LoraConfig, matchesTarget } from "./config.ts";
import type { AdapterConfig, AttachedAdapter } from "./method.ts";
import { methodOf } from "./registry.ts";

/** The PEFT key of a tensor of the adapter on `linear` ("base_model.model.<module>.lora_A.weight"). */
export function peftKey(linear: Linear, tensor: string): string {
  return `base_model.model.${linear.name}.${tensor}`;
}

/** The adapter attached to `lin` (attached by this folder: the hooks and the tensors), or null. */
export function attachedAdapter(lin: Linear): AttachedAdapter | null {
  const a = lin.adapter;
  if (a === null) return null;
  if (!("tensors" in a)) throw new Error(`${lin.name}: its adapter (${a.method}) was not attached by lora/`);
  return a as AttachedAdapter;
}

/** The linears of `model` that `config` targets, in model order. */
export function targetedLinears(model: Model, config: AdapterConfig): Linear[] {
  return model.linears.filter((lin) => matchesTarget(config, lin.name, layerOfName(model, lin.name)));
}

/**
 * Attaches the config's method to every linear it targets; returns the adapted linears.
 * `uniform` draws the initialisation (LoRA as PEFT: A kaiming-uniform(a=√5) = U(±1/√in), B = 0).
 */
export function attachAdapter(model: Model, config: AdapterConfig, uniform: Uniform, withGrad = true): Linear[] {
  const method = methodOf(config);
  const adapted = targetedLinears(model, config);
  if (adapted.length === 0) {
    const names = [...new Set(model.linears.map((l) => l.name.split(".").at(-1)))];
    throw new LoratuneError(
      "ERR_ADAPTER_CONFIG",
      `target_modules ${JSON.stringify(config.targetModules)} matches no linear layer of this model (its linear layers are named ${names.join(", ")})`,
    );
  }
  method.checkModel?.(config, model, adapted);
  for (const lin of adapted) lin.adapter = method.attach(config, lin, uniform, withGrad);
  return adapted;
}

/** LoRA's name for attachAdapter (the library API's). */
export const attachLora: (model: Model, config: LoraConfig, uniform: Uniform, withGrad?: boolean) => Linear[] =
  attachAdapter;

/** Trainable parameters of the attached adapters, in PEFT key order (module by module, each method's order). */
export function adapterParams(model: Model): TrainableParam[] {
  const params: TrainableParam[] = [];
  for (const lin of model.linears) {
    for (const t of attachedAdapter(lin)?.tensors ?? []) {
      if (t.grad) params.push({ name: peftKey(lin, t.name), shape: t.shape, data: t.data, grad: t.grad });
    }
  }
  return params;
}

/** LoRA's name for adapterParams (the library API's). */
export const loraParams = adapterParams;

/** Every attached adapter tensor (with or without gradients), in PEFT key order. */
export function adapterTensors(model: Model): { name: string; shape: number[]; data: Float32Array }[] {
  const out: { name: string; shape: number[]; data: Float32Array }[] = [];
  for (const lin of model.linears) {
    for (const t of attachedAdapter(lin)?.tensors ?? []) {
      out.push({ name: peftKey(lin, t.name), shape: t.shape, data: t.data });
    }
  }
  return out;
}

/** LoRA's name for adapterTensors. */
export const loraTensors = adapterTensors;

/** The linears that have an adapter attached. */
export function adaptedLinears(model: Model): Linear[] {
  return model.linears.filter((l) => l.adapter !== null);
}

/** Removes every adapter (back to the plain base model). */
export function detachAdapter(model: Model): void {
  for (const lin of model.linears) lin.adapter = null;
}

/** LoRA's name for detachAdapter. */
export const detachLora = detachAdapter;
