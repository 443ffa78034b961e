/**
 * An adapter's size before any model is loaded: which linears of a config it targets (PEFT's target_modules and
 * layers_to_transform, as attachAdapter matches them), the values its tensors take, and what it adds to the
 * activation arena per row. The memory estimate that decides whether a training run fits reads it (train/memory.ts),
 * so that a run that would not fit is refused before its weights are read.
 */
import { type AdapterRows, type ArenaNeeds, adapterRows } from "../model/activations.ts";
import type { ParamSpec } from "../model/arch/spec.ts";
import type { Linear } from "../nn/linear.ts";
import { matchesTarget } from "./config.ts";
import type { AdapterConfig, AdapterMethod } from "./method.ts";
import { methodOf } from "./registry.ts";

export interface AdapterPlan {
  /** Linears the config targets. */
  adapted: number;
  /** Values of every adapter tensor (each trains: it also gets a gradient and two AdamW moments). */
  values: number;
  /** What the adapters add to the activation arena per row. */
  rows: AdapterRows;
}

/** A linear as the family's specs declare it, holding no weight data (enough for sizes and target matching). */
function standIn(spec: ParamSpec): Linear {
  const [outFeatures, inFeatures] = spec.shape as [number, number];
  return {
    name: spec.name.slice(0, -".weight".length),
    inFeatures,
    outFeatures,
    weight: { dtype: "f32", shape: spec.shape, data: new Float32Array(0) },
    bias: null,
    dWeight: null,
    dBias: null,
    adapter: null,
  };
}

/** The arena sizes of the method on `lin`: its arenaSizes, or those of an adapter attached to the stand-in. */
function arenaNeeds(method: AdapterMethod, c: AdapterConfig, lin: Linear, training: boolean): ArenaNeeds {
  if (method.arenaSizes) {
    const { cacheSizes, scratchPerRow } = method.arenaSizes(c, lin, training);
    return { scratchPerRow, cacheSizes: () => cacheSizes };
  }
  return method.attach(c, lin, () => 0.5, false);
}

/** The plan of `c` on a model whose tensors are `specs` (the family's params() for its config). */
export function planAdapter(c: AdapterConfig, specs: ParamSpec[], training = true): AdapterPlan {
  const method = methodOf(c);
  const linears = specs
    .filter((s) => s.role === "linear" && s.name.endsWith(".weight") && s.shape.length === 2)
    .map((s) => ({ lin: standIn(s), layer: s.layer }))
    .filter(({ lin, layer }) => matchesTarget(c, lin.name, layer));
  let values = 0;
  const needs: ArenaNeeds[] = [];
  for (const { lin } of linears) {
    for (const t of method.tensorSpecs(c, lin)) values += t.shape.reduce((a, b) => a * b, 1);
    needs.push(arenaNeeds(method, c, lin, training));
  }
  values += moduleValues(c, specs) + tokenRowValues(c, specs);
  return { adapted: linears.length, values, rows: adapterRows(needs, training) };
}

/**
 * New token rows (trainable_token_indices, lora/trainable-tokens.ts) in trainable values: each entry's rows (n·C),
 * plus its gradient buffer, which is the whole grown table (V'·C f32, V' the table's rows or the largest id + 1):
 * counted as V'·C/4 values, since a trainable value is 16 bytes (value, gradient, two moments) and this is 4.
 */
function tokenRowValues(c: AdapterConfig, specs: ParamSpec[]): number {
  if (!c.trainableTokenIndices) return 0;
  const embedding = specs.find((s) => s.role === "embedding");
  if (!embedding) return 0;
  const [V, C] = embedding.shape as [number, number];
  let values = 0;
  for (const ids of Object.values(c.trainableTokenIndices)) {
    const rows = Math.max(V, ...ids.map((id) => id + 1));
    values += ids.length * C + Math.ceil((rows * C) / 4);
  }
  return values;
}

/**
 * Values of the modules the config trains whole (modules_to_save, matched as lora/modules-to-save.ts does): the
 * embedding, the head (a tied model's is a new copy of the table) or a linear, each counted once.
 */
function moduleValues(c: AdapterConfig, specs: ParamSpec[]): number {
  if (!c.modulesToSave?.length) return 0;
  const size = (shape: number[]) => shape.reduce((a, b) => a * b, 1);
  const candidates = specs
    .filter((s) => (s.role === "embedding" || s.role === "head" || s.role === "linear") && s.name.endsWith(".weight"))
    .map((s) => ({ module: s.name.slice(0, -".weight".length), values: size(s.shape), role: s.role }));
  const embedding = specs.find((s) => s.role === "embedding");
  if (embedding && !specs.some((s) => s.role === "head")) {
    // A tied model lists no head tensor; its head module is lm_head in every family loratune reads.
    candidates.push({ module: "lm_head", values: size(embedding.shape), role: "head" });
  }
  const hit = (module: string) => c.modulesToSave!.some((e) => module === e || module.endsWith(`.${e}`));
  return candidates.filter((m) => hit(m.module)).reduce((n, m) => n + m.values, 0);
}
