/**
 * What a config's family declares, for code that has only the config (before any weight is read): its tensors,
 * its linear modules and its LoRA defaults.
 */
import { familyOf } from "./arch/registry.ts";
import type { ParamSpec } from "./arch/spec.ts";
import type { ModelConfig } from "./config.ts";

/** Every tensor of a config (its family's specs), in the order random init draws them. */
export function modelParamSpecs(c: ModelConfig): ParamSpec[] {
  return familyOf(c).params(c);
}

/** The linear modules of the blocks (HF names without ".weight", with their block index), block by block. */
export function blockLinearModules(c: ModelConfig): { name: string; layer: number }[] {
  return modelParamSpecs(c)
    .filter((s) => s.role === "linear" && s.layer !== null)
    .map((s) => ({ name: s.name.slice(0, -".weight".length), layer: s.layer! }));
}

/** LoRA target_modules PEFT uses for this model type when none are given. */
export function defaultTargetModules(c: ModelConfig): readonly string[] {
  return familyOf(c).defaultTargets;
}
