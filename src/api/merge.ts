/**
 * `merge()`: fold a PEFT adapter into the base weights and write a plain Hugging Face model directory. The
 * output is checked before anything is read (never an input, the current directory, or a directory loratune did
 * not write), built under a temporary name and renamed into place, and marked as a merged model.
 */
import { copyFileSync, existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { readJsonObject } from "../io/json-file.ts";
import { writeDirAtomic } from "../io/output-dir.ts";
import { checkOutputDir } from "../io/output-guard.ts";
import { writeMarker } from "../io/run-marker.ts";
import { getKernels } from "../kernels/index.ts";
import { mergeAdapter } from "../lora/merge.ts";
import { checkWritableAsModel } from "../lora/modules-to-save.ts";
import { loadAdapter } from "../lora/peft-files.ts";
import { loadModel, resolveModelDir } from "../model/load.ts";
import { writeModelFiles } from "../model/save-dir.ts";
import type { QuantizeChoice } from "../tensor/formats/index.ts";
import { writeGgufSideFiles } from "./model-source.ts";
import { hasRunTokenizer } from "./models.ts";
import { inCallerTerms } from "./option-names.ts";
import { defaultsOf, type OptionDef, resolveOptions } from "./options.ts";
import { QUANTIZE_OPTION } from "./quantize-option.ts";
import { REVISION_OPTION } from "./revision-option.ts";

/** `loratune merge`'s options; `merge()` takes the same, camelCased. */
export const MERGE_OPTIONS: readonly OptionDef[] = [
  {
    key: "model",
    kind: "string",
    help: "base model directory, GGUF file, ollama:NAME or org/name (the Hugging Face cache; merged into f32), or 'demo'",
    metavar: "dir",
    required: true,
  },
  REVISION_OPTION,
  { key: "adapter", kind: "string", help: "PEFT adapter or run directory", metavar: "dir", required: true },
  {
    key: "out",
    kind: "string",
    help: "output model directory (config, tokenizer files and weights in the base's dtype)",
    metavar: "dir",
    required: true,
  },
  { key: "overwrite", kind: "bool", help: "replace a non-empty --out directory", default: false },
  QUANTIZE_OPTION,
];

/** What `merge()` takes: the base model, the adapter and the output directory (MERGE_DEFAULTS for the rest). */
export interface MergeOptions {
  /** Base model directory, a GGUF file (the merged model is a Hugging Face directory in f32), or "demo". */
  model: string;
  /** With a Hugging Face cache id (`org/name`): the branch, tag or commit hash of the snapshot (default: main). */
  revision?: string;
  /** PEFT adapter or run directory. */
  adapter: string;
  /** Output model directory (config, tokenizer files and weights in the base's dtype). */
  out: string;
  /**
   * Replace `out` when it is an earlier merged model written by loratune (never anything else).
   * @defaultValue false
   */
  overwrite?: boolean;
  /**
   * Merge into the base as it was trained on with `quantize`: the quantized linear weights are dequantized and
   * W + s·B·A is written in the base's dtype (the quantization error of W stays in the merged model).
   */
  quantize?: QuantizeChoice;
}

/** Every merge option's default, by its library name. */
export const MERGE_DEFAULTS = defaultsOf<MergeOptions>(MERGE_OPTIONS);

export interface MergeResult {
  /** Linear layers the adapter changed. */
  modules: number;
  /** The dtype the weights were written in (the base's). */
  dtype: string;
  /** The merged model's directory. */
  out: string;
}

/** Folds the adapter into the base weights (W + s·B·A) and writes a plain model directory to `out`. */
export function merge(options: MergeOptions): Promise<MergeResult> {
  return inCallerTerms(MERGE_OPTIONS, async () => runMerge(options));
}

function runMerge(options: MergeOptions): MergeResult {
  const o = resolveOptions<Required<MergeOptions>>("merge", MERGE_OPTIONS, options);
  const dir = resolveModelDir(o.model, o.revision);
  checkOutputDir({
    out: o.out,
    inputs: [
      { flag: "--model", path: dir },
      { flag: "--adapter", path: o.adapter },
    ],
    overwrite: o.overwrite,
    replaceable: ["merged-model"],
  });
  const model = loadModel(dir, { dtype: "f32", quantize: o.quantize });
  loadAdapter(o.adapter, model, false);
  checkWritableAsModel(model, "merge");
  const modules = mergeAdapter(getKernels(), model);
  writeDirAtomic(o.out, true, (tmp) => {
    writeModelFiles(tmp, model, dir, model.sourceDtype);
    // A GGUF base: config.json and the tokenizer files from its metadata, weights in f32 (sourceDtype).
    writeGgufSideFiles(tmp, dir);
    // A run trained with a chat template keeps it: the merged model chats the way the adapter was trained.
    const template = join(o.adapter, "chat_template.jinja");
    if (existsSync(template)) copyFileSync(template, join(tmp, "chat_template.jinja"));
    // --add-tokens: the run's tokenizer (with its tokens) and the grown vocabulary in config.json.
    if (hasRunTokenizer(o.adapter)) writeRunTokenizer(tmp, o.adapter, model.config.vocabSize);
    writeMarker(tmp, { kind: "merged-model" });
  });
  return { modules, dtype: model.sourceDtype, out: o.out };
}

/** Tokenizer files a run with --add-tokens keeps (they replace the base's in a merged model). */
const RUN_TOKENIZER_FILES = ["tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"];

/**
 * A merged model of a run with --add-tokens: the run's tokenizer files over the base's, and config.json's
 * vocab_size the grown vocabulary (the weights written already hold its rows).
 */
function writeRunTokenizer(dir: string, adapter: string, vocabSize: number): void {
  for (const f of RUN_TOKENIZER_FILES) {
    if (existsSync(join(adapter, f))) copyFileSync(join(adapter, f), join(dir, f));
  }
  const configPath = join(dir, "config.json");
  const config = readJsonObject(configPath, "ERR_CONFIG");
  writeFileSync(configPath, `${JSON.stringify({ ...config, vocab_size: vocabSize }, null, 2)}\n`);
}
