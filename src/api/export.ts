/**
 * `exportModel()`: a model, an adapter, or both, as GGUF files for llama.cpp and Ollama, in one output directory:
 *  - `--adapter` alone: adapter.gguf (a GGUF LoRA for the adapter's base model) and a Modelfile whose FROM is
 *    the base model's Hugging Face directory;
 *  - `--model` (optionally with `--adapter`, merged): model.gguf and a Modelfile;
 *  - `--model --adapter --separate-adapter`: the base as model.gguf, the adapter as adapter.gguf, and a Modelfile
 *    with FROM and ADAPTER.
 * Each GGUF file streams tensor by tensor and is written atomically; the directory follows the output rules
 * of every command (checked before anything is read, built under a temporary name, marked "export").
 */
import { existsSync } from "node:fs";
import { basename, join, resolve } from "node:path";
import { LoratuneError } from "../errors.ts";
import { type GgufMetadata, type GgufValue, str, stringOf } from "../gguf/metadata.ts";
import { availableOuttypes, GGUF_OUTTYPES, type GgufOuttype, ggufOuttype } from "../gguf/outtype.ts";
import { readGgufHeader } from "../gguf/reader.ts";
import { writeGguf } from "../gguf/writer.ts";
import { writeFileAtomic } from "../io/atomic.ts";
import { isHubCacheId } from "../io/hf-cache.ts";
import { readJsonObject } from "../io/json-file.ts";
import { writeDirAtomic } from "../io/output-dir.ts";
import { checkOutputDir } from "../io/output-guard.ts";
import { writeMarker } from "../io/run-marker.ts";
import { getKernels } from "../kernels/index.ts";
import { writeGgufAdapter } from "../lora/gguf-adapter.ts";
import { mergeAdapter } from "../lora/merge.ts";
import { checkWritableAsModel } from "../lora/modules-to-save.ts";
import { ADAPTER_CONFIG, isGgufFile, loadAdapter, peftConfigJson, readAdapterConfig } from "../lora/peft-files.ts";
import { familyOf } from "../model/arch/registry.ts";
import { ggufNamingFor, ggufNamingOf, modelGgufMetadata, modelGgufTensors } from "../model/gguf-tensors.ts";
import { loadModel, resolveModelDir } from "../model/load.ts";
import type { Model } from "../model/model.ts";
import { STORAGE_DTYPES, type StorageDType } from "../tensor/formats/index.ts";
import { ggufVocab } from "../tokenizer/gguf-vocab.ts";
import type { Tokenizer } from "../tokenizer/tokenizer.ts";
import { baseModelName, isGgufPath, loadBaseTokenizer, readBaseConfig } from "./model-source.ts";
import { modelfileText } from "./modelfile.ts";
import { type OptionDef, resolveOptions } from "./options.ts";
import { REVISION_OPTION } from "./revision-option.ts";

const DEFAULT_OUTTYPE = availableOuttypes().includes("f16") ? "f16" : "f32";

/** `loratune export`'s options; `exportModel()` takes the same, camelCased. */
export const EXPORT_OPTIONS: readonly OptionDef[] = [
  {
    key: "model",
    kind: "string",
    help: "base model directory, GGUF file, ollama:NAME, org/name (the Hugging Face cache), or 'demo'",
    metavar: "dir",
    defaultText: "the adapter's base model",
  },
  REVISION_OPTION,
  {
    key: "adapter",
    kind: "string",
    help: "PEFT adapter or run directory (or a GGUF LoRA); with --model it is merged unless --separate-adapter",
    metavar: "dir",
  },
  { key: "format", kind: "choice", choices: ["gguf"], default: "gguf", help: "output format (llama.cpp, Ollama)" },
  {
    key: "outtype",
    kind: "string",
    default: DEFAULT_OUTTYPE,
    help: `type of the model's 2-D weights: ${GGUF_OUTTYPES.filter((t) => availableOuttypes().includes(t)).join(", ")} (norms and biases stay f32; an adapter is always f32)`,
  },
  { key: "out", kind: "string", help: "output directory (GGUF files and a Modelfile)", metavar: "dir", required: true },
  {
    key: "separate-adapter",
    kind: "bool",
    default: false,
    help: "with --model and --adapter: write the base and the adapter as two GGUF files instead of merging",
  },
  { key: "overwrite", kind: "bool", help: "replace a --out directory loratune exported before", default: false },
];

export interface ExportOptions {
  model?: string;
  revision?: string;
  adapter?: string;
  format?: "gguf";
  outtype?: string;
  out: string;
  separateAdapter?: boolean;
  overwrite?: boolean;
}

export interface ExportResult {
  out: string;
  /** Files written, relative to `out`. */
  files: string[];
  /** Adapted modules merged into model.gguf (0 when nothing was merged). */
  merged: number;
  /** Adapted modules in adapter.gguf (0 when none was written). */
  adapterModules: number;
  outtype: string;
  /** tokenizer.ggml.pre of model.gguf (null without one). */
  pre: string | null;
  /**
   * 2-D tensors written in another type than --outtype, "name (type)": rows not whole blocks, or (a GGUF base with a
   * block --outtype) tensors already in another block format, kept as stored rather than quantized twice.
   */
  fallbacks: string[];
  /** The tensors of `fallbacks` kept in the block format the GGUF base stored them in. */
  kept: string[];
  /** Where llama.cpp is known to differ from loratune: its tokenizer for this tokenizer, its graph for this model. */
  notes: string[];
  /** With adapter.gguf alone: the base GGUF file the adapter applies to (null when the base is not a GGUF file). */
  baseGguf: string | null;
}

export const MODEL_GGUF = "model.gguf";
export const ADAPTER_GGUF = "adapter.gguf";
export const MODELFILE = "Modelfile";

export function exportModel(options: ExportOptions): ExportResult {
  const o = resolveOptions<Required<ExportOptions> & { model?: string; adapter?: string }>(
    "export",
    EXPORT_OPTIONS,
    options,
  );
  const outtype = ggufOuttype(o.outtype);
  if (o.model === undefined && o.adapter === undefined) {
    throw new LoratuneError("ERR_USAGE", "export needs --model, --adapter, or both");
  }
  if (o.separateAdapter && (o.model === undefined || o.adapter === undefined)) {
    throw new LoratuneError("ERR_USAGE", "--separate-adapter needs both --model and --adapter");
  }
  const modelDir = resolveModelDir(o.model ?? adapterBase(o.adapter!), o.revision);
  checkOutputDir({
    out: o.out,
    inputs: [
      { flag: "--model", path: modelDir },
      ...(o.adapter !== undefined ? [{ flag: "--adapter", path: o.adapter }] : []),
    ],
    overwrite: o.overwrite,
    replaceable: ["export"],
  });
  // Before any weight is read: the family must have a llama.cpp architecture, and its settings be ones llama.cpp's
  // graph computes with (metadata refuses the others: Gemma's fixed score scale and sliding pattern).
  const config = readBaseConfig(modelDir);
  ggufNamingFor(familyOf(config), config.modelType).metadata(config);
  const writeModel = o.model !== undefined;
  const merge = o.adapter !== undefined && writeModel && !o.separateAdapter;
  if (o.adapter !== undefined && !isGgufFile(o.adapter) && readAdapterConfig(o.adapter).trainableTokenIndices) {
    throw new LoratuneError(
      "ERR_USAGE",
      `export: the adapter holds rows of new tokens (trainable_token_indices), which neither a GGUF LoRA nor the base's GGUF vocabulary can hold; merge it first (loratune merge --adapter ${o.adapter}), then export the merged directory, whose tokenizer has the tokens`,
    );
  }
  const model = loadModel(modelDir, { dtype: memoryDtype(outtype, merge), ropePositions: 1, config });
  const adapterConfig = o.adapter !== undefined ? loadAdapter(o.adapter, model, false) : null;
  const writeAdapter = adapterConfig !== null && (!writeModel || o.separateAdapter);
  if (writeAdapter && adapterConfig.modulesToSave?.length) {
    throw new LoratuneError(
      "ERR_USAGE",
      `export: the adapter saves ${adapterConfig.modulesToSave.join(", ")} whole (modules_to_save), which a GGUF LoRA cannot hold; export it merged (--model without --separate-adapter)`,
    );
  }
  if (merge) checkWritableAsModel(model, "export");
  // A merged model chats the way the adapter was trained: a run's chat_template.jinja wins.
  const tok = loadBaseTokenizer(modelDir, merge ? runTemplate(o.adapter!) : {});
  // A cache snapshot's folder is a commit hash: the model is named by its repository's name instead.
  const named = writeModel ? (isHubCacheId(o.model!) ? o.model! : modelDir) : o.out;
  const name = basename(resolve(named)).replace(/\.gguf$/i, "");
  const result: ExportResult = {
    out: o.out,
    files: [],
    merged: 0,
    adapterModules: 0,
    outtype: outtype.name,
    pre: null,
    fallbacks: [],
    kept: [],
    notes: [],
    baseGguf: !writeModel && isGgufPath(modelDir) ? resolve(modelDir) : null,
  };
  writeDirAtomic(o.out, true, (tmp) => {
    if (writeAdapter) {
      const peft = peftConfigJson(adapterConfig, model, baseModelName(o.model!, modelDir));
      result.adapterModules = writeGgufAdapter(join(tmp, ADAPTER_GGUF), model, peft, `${name} adapter`);
      result.files.push(ADAPTER_GGUF);
    }
    if (writeModel) {
      if (merge) result.merged = mergeAdapter(getKernels(), model);
      const written = writeModelGguf(join(tmp, MODEL_GGUF), model, modelDir, tok, name, outtype);
      result.pre = written.pre;
      result.notes = written.notes;
      result.fallbacks = written.fallbacks;
      result.kept = written.kept;
      result.files.push(MODEL_GGUF);
    }
    const from = writeModel ? `./${MODEL_GGUF}` : resolve(modelDir);
    writeFileAtomic(
      join(tmp, MODELFILE),
      modelfileText({ from, adapter: writeAdapter ? `./${ADAPTER_GGUF}` : null }, tok, model.config.maxPositions),
    );
    result.files.push(MODELFILE);
    writeMarker(tmp, { kind: "export" });
  });
  result.notes.push(...(ggufNamingOf(model).notes?.(model.config) ?? []));
  return result;
}

/**
 * How the weights are held while exporting: f32 to merge (merging is f32) or to quantize (from exact values);
 * otherwise the output type itself when it is a storage format (f16, bf16: loading rounds as the export would,
 * and the model takes half the memory).
 */
function memoryDtype(outtype: GgufOuttype, merge: boolean): StorageDType {
  if (merge) return "f32";
  return (STORAGE_DTYPES as readonly string[]).includes(outtype.name) ? (outtype.name as StorageDType) : "f32";
}

/** The base model an adapter names (base_model_name_or_path); --model is needed when it names none here. */
function adapterBase(adapter: string): string {
  const path = join(adapter, ADAPTER_CONFIG);
  const base =
    !isGgufFile(adapter) && existsSync(path)
      ? readJsonObject(path, "ERR_ADAPTER_CONFIG").base_model_name_or_path
      : null;
  if (typeof base === "string" && (base === "demo" || existsSync(join(base, "config.json")))) return base;
  if (typeof base === "string" && isGgufPath(base) && existsSync(base)) return base;
  if (typeof base === "string" && isHubCacheId(base)) return base; // PEFT's own form: the hub id, in the cache
  throw new LoratuneError(
    "ERR_USAGE",
    `${adapter}: give --model (the adapter's base model${typeof base === "string" ? `, ${JSON.stringify(base)},` : ""} is not a model directory here)`,
  );
}

/** The chat template a training run kept (chat_template.jinja in the run directory), if any. */
function runTemplate(adapter: string): { chatTemplateFile?: string } {
  const path = join(adapter, "chat_template.jinja");
  return !isGgufFile(adapter) && existsSync(path) ? { chatTemplateFile: path } : {};
}

/** model.gguf: general and hyperparameter metadata, the tokenizer, then the weights streamed one by one. */
function writeModelGguf(
  path: string,
  model: Model,
  modelDir: string,
  tok: Tokenizer,
  name: string,
  outtype: GgufOuttype,
): { pre: string; fallbacks: string[]; kept: string[]; notes: string[] } {
  const vocab = isGgufPath(modelDir) ? sourceVocab(modelDir, tok) : ggufVocab(modelDir, tok, model.config.vocabSize);
  const meta: GgufMetadata = new Map([...modelGgufMetadata(model, name, outtype), ...vocab.metadata]);
  const { tensors, fallbacks, kept } = modelGgufTensors(model, outtype);
  writeGguf(path, meta, tensors);
  return { pre: vocab.pre, fallbacks, kept, notes: vocab.notes };
}

/**
 * A GGUF base's tokenizer written back as it was: its tokenizer.* metadata unchanged, but for the chat template
 * in use (a merged run's chat_template.jinja replaces the file's).
 */
function sourceVocab(path: string, tok: Tokenizer): { metadata: [string, GgufValue][]; pre: string; notes: string[] } {
  const meta = readGgufHeader(path).metadata;
  const metadata = [...meta].filter(([key]) => key.startsWith("tokenizer.") && key !== "tokenizer.chat_template");
  if (tok.chatTemplate !== null) metadata.push(["tokenizer.chat_template", str(tok.chatTemplate)]);
  const pre = stringOf(meta, "tokenizer.ggml.pre") ?? stringOf(meta, "tokenizer.ggml.model") ?? "default";
  return { metadata, pre, notes: [] };
}
