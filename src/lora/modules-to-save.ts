/**
 * PEFT's modules_to_save: modules trained (and saved) whole beside the adapter, typically `lm_head` and
 * `embed_tokens` when a chat template brings tokens the base never learned. An entry names a module as PEFT
 * matches it (the module's name, or its last dot-separated parts: "embed_tokens" is "model.embed_tokens"); the
 * model's embedding table, output head and any linear not adapted by LoRA can be named.
 *
 * On disk (PEFT's get_peft_model_state_dict strips "modules_to_save.default."): one tensor per module,
 * `base_model.model.<module>.weight` (e.g. `base_model.model.lm_head.weight`,
 * `base_model.model.model.embed_tokens.weight`), the whole weight in f32, next to the LoRA tensors.
 *
 * Tied embeddings: PEFT wraps each named module in its own trainable copy, so naming the head or the embedding
 * of a tied model unties them (the head becomes a copy of the table, then each takes its own values): exactly
 * what the saved files then describe, one tensor per named module.
 */
import { LoratuneError } from "../errors.ts";
import type { Model } from "../model/model.ts";
import { embeddingSpec } from "../model/model.ts";
import type { Linear } from "../nn/linear.ts";
import { weightFormat } from "../tensor/formats/index.ts";
import type { StoredTensor } from "../tensor/stored-tensor.ts";
import type { TrainableParam } from "../tensor/trainable.ts";
import { adaptedLinears } from "./adapter.ts";
import type { AdapterConfig } from "./method.ts";

/** One module to save: its name, PEFT key and where its weight lives in the model. */
export interface SavedModule {
  module: string;
  key: string;
  kind: "embedding" | "head" | "linear";
  linear: Linear | null;
}

/** The modules `entries` name in `model` (each entry must name one), in model order; ERR_ADAPTER_CONFIG if not. */
export function resolveModulesToSave(
  model: Model,
  entries: readonly string[],
  adapted: readonly Linear[],
): SavedModule[] {
  const embedding = embeddingSpec(model.specs).name.replace(/\.weight$/, "");
  const head = model.family.headName.replace(/\.weight$/, "");
  const candidates: SavedModule[] = [
    { module: embedding, key: keyOf(embedding), kind: "embedding", linear: null },
    ...model.linears.map((lin) => ({ module: lin.name, key: keyOf(lin.name), kind: "linear" as const, linear: lin })),
    { module: head, key: keyOf(head), kind: "head", linear: null },
  ];
  const picked = new Set<SavedModule>();
  for (const entry of entries) {
    const hits = candidates.filter((c) => c.module === entry || c.module.endsWith(`.${entry}`));
    if (hits.length === 0) {
      throw new LoratuneError(
        "ERR_ADAPTER_CONFIG",
        `modules_to_save entry "${entry}" names no module of this model (its embedding is ${embedding}, its head ${head}; a linear layer not adapted by LoRA may also be named)`,
      );
    }
    for (const h of hits) {
      if (h.linear && adapted.includes(h.linear)) {
        throw new LoratuneError(
          "ERR_ADAPTER_CONFIG",
          `modules_to_save entry "${entry}" names ${h.module}, which LoRA's target_modules also adapt; a module is either adapted or saved whole`,
        );
      }
      picked.add(h);
    }
  }
  return candidates.filter((c) => picked.has(c));
}

const keyOf = (module: string) => `base_model.model.${module}.weight`;

/** The model's current weight of one saved module. */
function weightOf(model: Model, m: SavedModule): StoredTensor {
  if (m.kind === "embedding") return model.embed;
  if (m.kind === "head") return model.lmHead;
  return m.linear!.weight;
}

/** A tied model's head becomes its own copy of the table when either is saved whole (PEFT's separate copies). */
export function untieForModules(model: Model, mods: readonly SavedModule[]): void {
  if (model.lmHead !== model.embed || !mods.some((m) => m.kind !== "linear")) return;
  const e = model.embed;
  model.lmHead = { ...e, shape: [...e.shape], data: e.data.slice() } as StoredTensor;
}

/** Each saved module's weight in f32, [out, in] (embedding / head [V, C]), under its PEFT key. */
export function moduleTensors(
  model: Model,
  mods: readonly SavedModule[],
): { name: string; shape: number[]; data: Float32Array }[] {
  return mods.map((m) => {
    const w = weightOf(model, m);
    const n = w.shape.reduce((a, b) => a * b, 1);
    const data = new Float32Array(n);
    weightFormat(w.dtype).toF32(data, w.data, 0, n);
    return { name: m.key, shape: [...w.shape], data };
  });
}

/**
 * Makes the saved modules trainable (their gradients allocated: dEmbed, dLmHead, a linear's dWeight); they must be
 * held in f32 (ERR_USAGE otherwise, as full fine-tuning).
 */
export function trainModules(model: Model, mods: readonly SavedModule[]): TrainableParam[] {
  return mods.map((m) => {
    const w = weightOf(model, m);
    if (w.dtype !== "f32") {
      throw new LoratuneError(
        "ERR_USAGE",
        `modules_to_save trains ${m.module} whole, which needs it in f32 (it is held as ${w.dtype}): use --dtype f32 without --quantize`,
      );
    }
    const grad = new Float32Array(w.data.length);
    if (m.kind === "embedding") model.dEmbed = grad;
    else if (m.kind === "head") model.dLmHead = grad;
    else m.linear!.dWeight = grad;
    return { name: m.key, shape: [...w.shape], data: w.data as Float32Array, grad };
  });
}

/** Writes each saved module's values from an adapter file into the model (in the format it is held in). */
export function fillModules(
  model: Model,
  mods: readonly SavedModule[],
  tensors: Map<string, StoredTensor>,
  path: string,
): void {
  for (const m of mods) {
    const t = tensors.get(m.key);
    const w = weightOf(model, m);
    if (!t)
      throw new LoratuneError("ERR_ADAPTER_KEYS", `${path}: missing ${m.key} (modules_to_save lists ${m.module})`);
    if (t.shape.length !== w.shape.length || t.shape.some((d, i) => d !== w.shape[i])) {
      throw new LoratuneError(
        "ERR_ADAPTER_KEYS",
        `${path}: ${m.key} has shape [${t.shape.join(", ")}], the model's ${m.module} is [${w.shape.join(", ")}]`,
      );
    }
    const data = t.data as Float32Array;
    const bad = data.findIndex((x) => !Number.isFinite(x));
    if (bad >= 0)
      throw new LoratuneError("ERR_NONFINITE", `${path}: tensor "${m.key}" holds ${data[bad]} at index ${bad}`);
    if (weightFormat(w.dtype).quantized) {
      throw new LoratuneError(
        "ERR_USAGE",
        `${path}: ${m.module} is quantized (${w.dtype}); load this adapter without --quantize`,
      );
    }
    weightFormat(w.dtype).fromF32(w.data, 0, data, data.length);
  }
}

/**
 * Training with the config's modules_to_save: unties a tied head if needed and returns the modules' trainable
 * parameters (none without modules_to_save). Call after the adapter is attached.
 */
export function enableModulesToSave(model: Model, config: AdapterConfig): TrainableParam[] {
  if (!config.modulesToSave?.length) return [];
  const mods = resolveModulesToSave(model, config.modulesToSave, adaptedLinears(model));
  untieForModules(model, mods);
  return trainModules(model, mods);
}

/**
 * Refuses writing `model` as a whole model (merge, export) when modules_to_save untied the head of a tied base: the
 * model files say tie_word_embeddings, so the separately trained head would be lost. `what` names the command.
 */
export function checkWritableAsModel(model: Model, what: string): void {
  if (model.config.tieWordEmbeddings && model.lmHead !== model.embed) {
    throw new LoratuneError(
      "ERR_USAGE",
      `${what}: the adapter's modules_to_save gives this tied model a head of its own, which a model written with tie_word_embeddings cannot hold; use the adapter unmerged (--adapter)`,
    );
  }
}
