/**
 * Adapter methods as plug-ins. A method (LoRA, and later DoRA, …) is one file under lora/methods/ holding a
 * record of this interface; registry.ts maps an adapter_config.json to the method that reads it. A method says:
 * - which PEFT configs it reads (peft_type, and the fields that pick a variant: use_dora, …), how it parses them
 *   and how it writes them back (adapter_config.json in PEFT's keys);
 * - the tensors it adds to an adapted linear (names after "base_model.model.<module>.", shapes, which axis is
 *   what), so a weights file is checked against them before anything is allocated;
 * - how it attaches to one Linear: its tensors, initialised from a uniform source, and the hooks nn/ calls
 *   (forward, backward, the cache sizes the activation arena allocates; nn/adapter-hooks.ts), plus merge and
 *   unmerge into the base weight.
 * Target matching (PEFT's target_modules and layers_to_transform), the trainable-parameter list, saving and
 * strict loading in PEFT's format, merging with its non-finite check, and the activation arena are the same for
 * every method (adapter.ts, peft-files.ts, merge.ts, model/activations.ts) and need no change for a new one.
 */
import type { Kernels } from "../kernels/types.ts";
import type { Model } from "../model/model.ts";
import type { AdapterHooks, Uniform } from "../nn/adapter-hooks.ts";
import type { Linear } from "../nn/linear.ts";

/** What every adapter config holds: the method that reads it and PEFT's module selection. */
export interface AdapterConfig {
  /** The registered method's name ("lora"). */
  method: string;
  /** PEFT's target_modules: names (a module equal to one or ending in "." + one), a full-match regex, "all-linear". */
  targetModules: string[] | string;
  /** PEFT's layers_to_transform: only these block indices, or null for all. */
  layersToTransform: number[] | null;
  /**
   * PEFT's layers_pattern: with layers_to_transform, the block index is the number after "<pattern>." in the
   * module name (the first pattern that matches; no match: not adapted). Absent or null: the family's block index.
   */
  layersPattern?: string[] | null;
  /**
   * PEFT's modules_to_save: modules trained and saved whole beside the adapter (lora/modules-to-save.ts); absent
   * or null: none.
   */
  modulesToSave?: string[] | null;
  /**
   * PEFT's trainable_token_indices: rows of the embedding (and of an untied head) held by the adapter, by module
   * entry ("embed_tokens", "lm_head"); the base is resized to hold them (lora/trainable-tokens.ts). Absent: none.
   */
  trainableTokenIndices?: Record<string, number[]> | null;
}

/**
 * What one of a method's tensors is along each axis: the adapted linear's input or output size (a mismatch names
 * the model dimension that differs), the adapter's rank (a mismatch says the config does not belong to the
 * weights), or something else (null: reported by shape).
 */
export type TensorAxis = "in" | "out" | "rank" | null;

/** One tensor a method adds to an adapted linear, as saved. */
export interface AdapterTensorSpec {
  /** The key after "base_model.model.<module>." ("lora_A.weight"). */
  name: string;
  shape: number[];
  /** One entry per axis of `shape`. */
  axes: TensorAxis[];
}

/** An attached adapter's tensor: its values, and its gradient when it trains (null when it does not). */
export interface AdapterTensor extends AdapterTensorSpec {
  data: Float32Array;
  grad: Float32Array | null;
}

/** A method attached to one linear: the hooks nn/ calls, its tensors, and merging. */
export interface AttachedAdapter extends AdapterHooks {
  /** Every tensor, in save order (also the trainable-parameter and checkpoint order). */
  readonly tensors: readonly AdapterTensor[];
  /**
   * Folds the adapter into the base weight: w[out, in] (an f32 copy of lin.weight) and bias[out] (an f32 copy
   * of lin.bias, or null) are updated in place; the caller checks every value is finite before writing them back.
   */
  merge(k: Kernels, w: Float32Array, bias: Float32Array | null, lin: Linear): void;
  /** The inverse of merge, on a weight the adapter was merged into. */
  unmerge(k: Kernels, w: Float32Array, bias: Float32Array | null, lin: Linear): void;
}

/** A method: one record, registered by name (registry.ts). `C` is its config. */
export interface AdapterMethod<C extends AdapterConfig = AdapterConfig> {
  /** Registry name, also AdapterConfig.method and AdapterHooks.method ("lora"). */
  readonly name: string;
  /** PEFT's peft_type of its configs ("LORA"). Several methods may share one (LoRA and DoRA are both "LORA"). */
  readonly peftType: string;
  /**
   * Whether a config of that peft_type is this method's, by the fields that pick a variant (DoRA:
   * `raw.use_dora === true`). A method with `reads` wins over one without it (the plain method of its type).
   */
  reads?(raw: Record<string, unknown>): boolean;
  /** adapter_config.json → config; throws ERR_ADAPTER_CONFIG naming `path` and the field. Unknown keys ignored. */
  parseConfig(raw: Record<string, unknown>, path: string): C;
  /** The adapter_config.json PEFT writes for this config on `model` (`adapted`: the linears it adapts). */
  configJson(c: C, model: Model, adapted: readonly Linear[], baseModel: string | null): Record<string, unknown>;
  /**
   * Refuses a config that cannot apply to this model although its targets match (ERR_ADAPTER_CONFIG), or corrects
   * what PEFT corrects (LoRA's fan_in_fan_out against the family's weight layout, with a warning), before anything
   * is attached.
   */
  checkModel?(c: C, model: Model, adapted: readonly Linear[]): void;
  /** The tensors attaching `c` to `lin` creates (names, shapes, axes), without allocating them. */
  tensorSpecs(c: C, lin: Linear): AdapterTensorSpec[];
  /**
   * What attaching `c` to `lin` would ask of the activation arena per row, without allocating anything: the
   * attached adapter's `cacheSizes(training)` and `scratchPerRow` (the memory estimate made before a model is
   * loaded reads it). Optional: without it, the estimate attaches to a stand-in linear whose weight holds no data.
   */
  arenaSizes?(c: C, lin: Linear, training: boolean): { cacheSizes: Record<string, number>; scratchPerRow: number };
  /**
   * Attaches to one linear: allocates its tensors (gradients too when `withGrad`) and initialises them from
   * `uniform` (draws in a fixed order: seeded runs depend on it).
   */
  attach(c: C, lin: Linear, uniform: Uniform, withGrad: boolean): AttachedAdapter;
}
