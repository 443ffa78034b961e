/**
 * Adapter directories, exactly as Hugging Face PEFT writes and reads them, for any registered adapter method:
 * adapter_config.json (LoRA: peft_type "LORA", task_type "CAUSAL_LM", r, lora_alpha, …; unknown keys ignored on
 * read; the method that reads it is found by lora/registry.ts) and adapter_model.safetensors (metadata
 * {"format": "pt"}) with keys base_model.model.<module>.<tensor> (LoRA: lora_A.weight [r, in] and
 * lora_B.weight [out, r]).
 * Loading is strict: every missing, unexpected or mis-shaped key is listed in one error.
 */
import { existsSync, statSync } from "node:fs";
import { join } from "node:path";
import { LoratuneError } from "../errors.ts";
import { writeFileAtomic } from "../io/atomic.ts";
import { readJsonObject } from "../io/json-file.ts";
import { previewJson } from "../io/preview.ts";
import { readSafetensors, readSafetensorsHeader } from "../io/safetensors.ts";
import { writeSafetensors } from "../io/safetensors-write.ts";
import { layerOfName, type Model } from "../model/model.ts";
import type { StoredTensor } from "../tensor/stored-tensor.ts";
import { adapterTensors, attachAdapter, detachAdapter, targetedLinears } from "./adapter.ts";
import { readGgufAdapter, unfoldGgufAdapter } from "./gguf-adapter.ts";
import type { AdapterConfig, TensorAxis } from "./method.ts";
import { fillModules, resolveModulesToSave, untieForModules } from "./modules-to-save.ts";
import { ADAPTER_CONFIG, ADAPTER_WEIGHTS, adapterFileContents, savedModules } from "./peft-format.ts";
import { methodOf, parseAdapterConfig } from "./registry.ts";
import { fillTokenRows, tokenRowShapes } from "./trainable-tokens.ts";

export { ADAPTER_CONFIG, ADAPTER_WEIGHTS, adapterFileContents, peftConfigJson } from "./peft-format.ts";

/**
 * Writes the model's attached adapter as a PEFT adapter directory (each file written atomically). An adapter
 * initialised from the base weight (PiSSA, OLoRA) is written converted, relative to the original base
 * (convert-init.ts). The contents are peft-format.ts's adapterFileContents (the browser page downloads the same).
 */
export function saveAdapter(dir: string, model: Model, config: AdapterConfig, baseModel: string | null): void {
  const files = adapterFileContents(model, config, baseModel, dir);
  writeSafetensors(join(dir, ADAPTER_WEIGHTS), files.weights, files.metadata);
  writeFileAtomic(join(dir, ADAPTER_CONFIG), files.configText);
}

/** Reads and validates adapter_config.json (with the method that reads it). */
export function readAdapterConfig(dir: string): AdapterConfig {
  const path = join(dir, ADAPTER_CONFIG);
  if (!existsSync(path))
    throw new LoratuneError("ERR_ADAPTER_CONFIG", `${dir}: not a PEFT adapter directory (no ${ADAPTER_CONFIG})`);
  const raw = readJsonObject(path, "ERR_ADAPTER_CONFIG");
  return parseAdapterConfig(raw, path);
}

/**
 * Attaches the adapter in `dir` to the model and loads its weights. Strict: the set of keys and their shapes
 * must equal what the config implies for this model. Before anything is allocated, the header of
 * adapter_model.safetensors is compared with the shapes adapter_config.json implies for this model: an adapter
 * for a different base model is named in one line by the dimension that differs (hidden size, intermediate
 * size, layer count, attention widths); genuinely missing or unexpected keys are listed. Loaded values must be
 * finite. On an error the model is left without an adapter.
 */
export function loadAdapter(dir: string, model: Model, withGrad = false): AdapterConfig {
  if (isGgufFile(dir)) return loadGgufAdapter(dir, model, withGrad);
  const config = readAdapterConfig(dir);
  const targeted = targetedLinears(model, config);
  if (targeted.length > 0) inAdapterDir(dir, () => methodOf(config).checkModel?.(config, model, targeted));
  const weightsPath = join(dir, ADAPTER_WEIGHTS);
  if (!existsSync(weightsPath)) {
    throw new LoratuneError(
      "ERR_ADAPTER_KEYS",
      `${dir}: no ${ADAPTER_WEIGHTS} (adapter_model.bin pickles are never loaded)`,
    );
  }
  const base = () => readJsonObject(join(dir, ADAPTER_CONFIG), "ERR_ADAPTER_CONFIG").base_model_name_or_path;
  checkAdapterFits(dir, config, model, readSafetensorsHeader(weightsPath).tensors.values(), base);
  const tensors = readSafetensors(weightsPath, "f32");
  inAdapterDir(dir, () => attachAndFill(model, config, tensors, weightsPath, withGrad));
  return config;
}

/** The modules the config saves whole (modules_to_save), resolved in the model with the adapter attached. */
/** Whether `path` is a GGUF file (an adapter exported for llama.cpp) rather than a PEFT directory. */
export function isGgufFile(path: string): boolean {
  return path.endsWith(".gguf") && existsSync(path) && statSync(path).isFile();
}

/** A GGUF LoRA (llama.cpp's layout), loaded under PEFT's names with the same strict checks. */
function loadGgufAdapter(path: string, model: Model, withGrad: boolean): AdapterConfig {
  const { config, tensors, alpha } = readGgufAdapter(path, model);
  const targeted = targetedLinears(model, config);
  if (targeted.length > 0) methodOf(config).checkModel?.(config, model, targeted);
  const shapes = [...tensors].map(([name, t]) => ({ name, shape: t.shape }));
  checkAdapterFits(path, config, model, shapes, () => null);
  attachAndFill(model, config, tensors, path, withGrad);
  unfoldGgufAdapter(model, alpha);
  return config;
}

function attachAndFill(
  model: Model,
  config: AdapterConfig,
  tensors: Map<string, StoredTensor>,
  weightsPath: string,
  withGrad: boolean,
): void {
  try {
    attachAdapter(model, config, () => 0.5, withGrad);
    const mods = savedModules(model, config);
    const rows = config.trainableTokenIndices ?? {};
    const extra = [...mods.map((m) => m.key), ...tokenRowShapes(model, rows).map((t) => t.key)];
    fillAdapter(model, tensors, weightsPath, new Set(extra));
    untieForModules(model, mods);
    fillTokenRows(model, rows, tensors, weightsPath);
    fillModules(model, mods, tensors, weightsPath);
  } catch (err) {
    detachAdapter(model);
    throw err;
  }
}

/** Runs `f`; an error that does not name the adapter directory is said to come from its adapter_config.json. */
function inAdapterDir(dir: string, f: () => void): void {
  try {
    f();
  } catch (err) {
    if (err instanceof LoratuneError && !err.message.includes(dir)) {
      throw new LoratuneError(err.code, `${join(dir, ADAPTER_CONFIG)}: ${err.message}`, { cause: err });
    }
    throw err;
  }
}

/** One adapter tensor the config implies for this model. */
interface ExpectedTensor {
  key: string;
  module: string;
  shape: number[];
  axes: TensorAxis[];
}

/** What the adapter's and the model's values of one dimension are called in messages. */
interface Dimension {
  order: number;
  /** "hidden size 576", "30 layers". */
  say: (v: number | string) => string;
}

const DIMS = {
  hidden: { order: 0, say: (v: number | string) => `hidden size ${v}` },
  intermediate: { order: 1, say: (v: number | string) => `intermediate size ${v}` },
  layers: { order: 2, say: (v: number | string) => `${v} layers` },
  attention: { order: 3, say: (v: number | string) => `attention width (heads × head dim) ${v}` },
  kv: { order: 4, say: (v: number | string) => `key/value width (key/value heads × head dim) ${v}` },
} satisfies Record<string, Dimension>;

/** The dimension an adapted linear's input or output size is, by the axes its model's spec gives it. */
function dimensionOf(model: Model, module: string, side: "in" | "out"): Dimension | null {
  const axis = model.specs.find((s) => s.name === `${module}.weight`)?.axes?.[side];
  return axis !== undefined && Object.hasOwn(DIMS, axis) ? DIMS[axis as keyof typeof DIMS] : null;
}

/** The block index of an adapter key (base_model.model.<module>.lora_X.weight) in this model's naming. */
const layerOf = (model: Model, key: string): number | null =>
  layerOfName(model, key.startsWith(PEFT_PREFIX) ? key.slice(PEFT_PREFIX.length) : key);
const PEFT_PREFIX = "base_model.model.";
const normalKey = (key: string) => key.replace(/\.default\.weight$/, ".weight");
const clip = (key: string) => (key.length > 200 ? `${key.slice(0, 199)}…` : key);

/**
 * Compares the weights file's header with the tensors the config implies for this model, before anything is
 * allocated (a config whose r does not belong to the weights cannot drive a huge allocation).
 */
function checkAdapterFits(
  dir: string,
  config: AdapterConfig,
  model: Model,
  fileTensors: Iterable<{ name: string; shape: number[] }>,
  baseModel: () => unknown,
): void {
  const method = methodOf(config);
  const expected: ExpectedTensor[] = [];
  const targeted = targetedLinears(model, config);
  for (const lin of targeted) {
    for (const t of method.tensorSpecs(config, lin)) {
      expected.push({ key: `base_model.model.${lin.name}.${t.name}`, module: lin.name, shape: t.shape, axes: t.axes });
    }
  }
  if (targeted.length > 0 && config.modulesToSave?.length) {
    for (const m of resolveModulesToSave(model, config.modulesToSave, targeted)) {
      const shape =
        m.kind === "embedding" ? model.embed.shape : m.kind === "head" ? model.lmHead.shape : m.linear!.weight.shape;
      expected.push({ key: m.key, module: m.module, shape: [...shape], axes: shape.map(() => null) });
    }
  }
  if (targeted.length > 0) {
    for (const t of tokenRowShapes(model, config.trainableTokenIndices ?? {})) {
      expected.push({ key: t.key, module: t.module, shape: t.shape, axes: [null, null] });
    }
  }
  if (expected.length === 0) return; // attachAdapter says that target_modules matches nothing
  const inFile = new Map<string, number[]>();
  for (const info of fileTensors) inFile.set(normalKey(info.name), info.shape);

  // Differences by dimension: label -> adapter value -> model value.
  const differs = new Map<Dimension, Map<number, number>>();
  const note = (dim: Dimension, adapterValue: number, modelValue: number) => {
    const m = differs.get(dim) ?? new Map<number, number>();
    m.set(adapterValue, modelValue);
    differs.set(dim, m);
  };
  const rankProblems: string[] = [];
  const problems: string[] = [];
  let missing = expected.filter((e) => !inFile.has(e.key));
  const expectedKeys = new Set(expected.map((e) => e.key));
  let unexpected = [...inFile.keys()].filter((k) => !expectedKeys.has(k));

  for (const e of expected) {
    const shape = inFile.get(e.key);
    if (shape === undefined || sameShape(shape, e.shape)) continue;
    const shapes = `${e.key} has shape [${shape.join(", ")}], expected [${e.shape.join(", ")}]`;
    if (shape.length !== e.shape.length) {
      problems.push(shapes);
      continue;
    }
    let byShape = false;
    e.axes.forEach((axis, i) => {
      const fileSize = shape[i] as number;
      const size = e.shape[i] as number;
      if (fileSize === size) return;
      if (axis === "rank") {
        rankProblems.push(`${e.module} (r ${size} in the config, ${fileSize} in the weights)`);
        return;
      }
      const dim = axis === "in" || axis === "out" ? dimensionOf(model, e.module, axis) : null;
      if (dim) note(dim, fileSize, size);
      else byShape = true;
    });
    if (byShape) problems.push(shapes);
  }

  // A different layer count: the adapter has keys for layers this model lacks, or none for its last layers.
  const modelLayers = model.layers.length;
  const fileLayerIds = [...inFile.keys()].map((key) => layerOf(model, key)).filter((l): l is number => l !== null);
  const fileLayers = fileLayerIds.length > 0 ? Math.max(...fileLayerIds) + 1 : 0;
  if (fileLayers > modelLayers) {
    note(DIMS.layers, fileLayers, modelLayers);
    unexpected = unexpected.filter((k) => (layerOf(model, k) ?? -1) < modelLayers);
  } else if (fileLayers > 0 && fileLayers < modelLayers && config.layersToTransform === null) {
    const beyond = expected.filter((e) => (layerOf(model, e.key) ?? -1) >= fileLayers);
    if (beyond.length > 0 && beyond.every((e) => !inFile.has(e.key))) {
      note(DIMS.layers, fileLayers, modelLayers);
      missing = missing.filter((e) => (layerOf(model, e.key) ?? -1) < fileLayers);
    }
  }

  for (const e of missing.slice(0, 20)) problems.push(`missing ${e.key} [${e.shape.join(", ")}]`);
  if (missing.length > 20) problems.push(`… ${missing.length} missing keys in all`);
  for (const key of unexpected.slice(0, 20)) problems.push(`unexpected ${clip(key)}`);
  if (unexpected.length > 20) problems.push(`… ${unexpected.length} unexpected keys in all`);

  const lines: string[] = [];
  if (differs.size > 0) lines.push(differentBase(dir, differs, baseModel));
  if (rankProblems.length > 0) {
    const shown =
      rankProblems.slice(0, 3).join(", ") + (rankProblems.length > 3 ? `, … (${rankProblems.length} modules)` : "");
    lines.push(
      `${join(dir, ADAPTER_CONFIG)}: the ranks it gives do not match ${ADAPTER_WEIGHTS}: ${shown}; the config does ` +
        "not belong to these weights",
    );
  }
  if (lines.length === 0 && problems.length === 0) return;
  const head =
    lines.length > 0 ? lines.join("\n") : `${join(dir, ADAPTER_WEIGHTS)}: the adapter does not fit this model:`;
  const rest = problems.length > 0 ? `${lines.length > 0 ? "\nalso:" : ""}\n  ${problems.join("\n  ")}` : "";
  throw new LoratuneError("ERR_ADAPTER_KEYS", `${head}${rest}`);
}

/**
 * "runs/x: adapter was trained on a model with hidden size 576; this model has hidden size 288". Attention
 * widths follow from the hidden size in most models, so they are named only when nothing bigger differs.
 */
function differentBase(dir: string, differs: Map<Dimension, Map<number, number>>, baseModel: () => unknown): string {
  const base = baseModel();
  let dims = [...differs.keys()].sort((a, b) => a.order - b.order);
  if (dims.some((d) => d.order <= DIMS.layers.order)) dims = dims.filter((d) => d.order <= DIMS.layers.order);
  const side = (pick: (pair: [number, number]) => number) => {
    const parts = dims.map((d) => d.say([...new Set([...(differs.get(d) ?? [])].map(pick))].join("/")));
    return parts.length === 1 ? parts[0] : `${parts.slice(0, -1).join(", ")} and ${parts.at(-1)}`;
  };
  const named = typeof base === "string" && base !== "" ? ` (its base model: ${previewJson(base)})` : "";
  return (
    `${dir}: adapter was trained on a model with ${side(([a]) => a)}${named}; ` + `this model has ${side(([, m]) => m)}`
  );
}

const sameShape = (a: number[], b: number[]) => a.length === b.length && a.every((d, i) => d === b[i]);

/** Copies the file's tensors into the attached adapters; lists every missing, unexpected or mis-shaped key. */
function fillAdapter(
  model: Model,
  tensors: Map<string, StoredTensor>,
  weightsPath: string,
  moduleKeys: Set<string>,
): void {
  const expected = adapterTensors(model);
  const problems: string[] = [];
  const seen = new Set<string>();
  for (const p of expected) {
    const key = p.name;
    const t = tensors.get(key) ?? tensors.get(key.replace(/\.weight$/, ".default.weight"));
    seen.add(key);
    if (!t) {
      problems.push(`missing ${key} [${p.shape.join(", ")}]`);
      continue;
    }
    if (t.shape.length !== p.shape.length || t.shape.some((d, i) => d !== p.shape[i])) {
      problems.push(`${key} has shape [${t.shape.join(", ")}], expected [${p.shape.join(", ")}]`);
      continue;
    }
    const bad = (t.data as Float32Array).findIndex((x) => !Number.isFinite(x));
    if (bad >= 0) {
      throw new LoratuneError(
        "ERR_NONFINITE",
        `${weightsPath}: tensor "${key}" holds ${t.data[bad]} at index ${bad}; the adapter is corrupt or came ` +
          "from a run that diverged",
      );
    }
    p.data.set(t.data as Float32Array);
  }
  const unexpected: string[] = [];
  for (const key of tensors.keys()) {
    if (moduleKeys.has(key)) continue;
    if (!seen.has(key) && !seen.has(key.replace(/\.default\.weight$/, ".weight"))) unexpected.push(key);
  }
  for (const key of unexpected.slice(0, 20))
    problems.push(`unexpected ${key.length > 200 ? `${key.slice(0, 199)}…` : key}`);
  if (unexpected.length > 20) problems.push(`… ${unexpected.length} unexpected keys in all`);
  if (problems.length > 0) {
    throw new LoratuneError(
      "ERR_ADAPTER_KEYS",
      `${weightsPath}: the adapter does not fit this model:\n  ${problems.join("\n  ")}`,
    );
  }
}
