/**
 * Loading a model (and optionally a PEFT adapter and the tokenizer) for evaluation and generation: the library's
 * `loadModel` / `loadAdapter`, whose LoadedModel `generate()` and `evaluate()` take in place of a directory, and
 * `loadForInference`, the same in one synchronous call for the commands.
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { LoratuneError } from "../errors.ts";
import { detachAdapter } from "../lora/adapter.ts";
import type { AdapterConfig } from "../lora/method.ts";
import { loadAdapter as attachAdapterFiles, isGgufFile } from "../lora/peft-files.ts";
import { loadModel as loadModelDir, resolveModelDir } from "../model/load.ts";
import type { Model } from "../model/model.ts";
import { QUANTIZE_CHOICES, type QuantizeChoice, STORAGE_DTYPES, type StorageDType } from "../tensor/formats/index.ts";
import { loadTokenizer } from "../tokenizer/load-tokenizer.ts";
import type { Tokenizer } from "../tokenizer/tokenizer.ts";
import { baseHasTokenizer, loadBaseTokenizer, missingTokenizerText } from "./model-source.ts";
import { inCallerTerms } from "./option-names.ts";
import { type OptionDef, resolveOptions } from "./options.ts";
import { REVISION_OPTION } from "./revision-option.ts";

/** The chat template a training run keeps next to its adapter (the template it was trained with). */
export const RUN_CHAT_TEMPLATE = "chat_template.jinja";

/** A model in memory, with its tokenizer and the adapter attached to it (unmerged), if any. */
export interface LoadedModel {
  /** The model directory (or the GGUF file). */
  dir: string;
  model: Model;
  /** The attached adapter's settings (rank, alpha, targets…), or null. */
  adapter: AdapterConfig | null;
  /** The attached adapter's directory (or .gguf file), or null. */
  adapterPath: string | null;
  /** null when the model has no tokenizer (no tokenizer.json; a GGUF file without tokenizer.ggml.*): ids only. */
  tokenizer: Tokenizer | null;
  /** The chat template file given when loading (null: the adapter's chat_template.jinja, else the model's). */
  chatTemplate: string | null;
}

/** `loadModel()`'s options: what a model directory is loaded with. */
export interface LoadModelOptions {
  /** With a Hugging Face cache id (`org/name`): the branch, tag or commit hash of the snapshot (default: main). */
  revision?: string;
  /**
   * In-memory dtype of the base weights.
   * @defaultValue "f32"
   */
  dtype?: StorageDType;
  /** Quantize the base's linear weights on load (ggml's Q8_0 or Q4_K blocks; costs accuracy). */
  quantize?: QuantizeChoice;
  /** A PEFT adapter or run directory (or a GGUF LoRA file) to attach, unmerged; `loadAdapter` can do it later. */
  adapter?: string;
  /**
   * A chat template file (Jinja, or JSON with "chat_template") to use instead of the model's. Default: the
   * adapter directory's chat_template.jinja (kept by the run that trained it), else the model's template.
   */
  chatTemplate?: string;
}

/** The options of `loadModel` (the same keys as generate's and eval's). */
export const LOAD_OPTIONS: readonly OptionDef[] = [
  {
    key: "model",
    kind: "string",
    help: "model directory, GGUF file, ollama:NAME, org/name (the Hugging Face cache), or 'demo'",
    required: true,
  },
  REVISION_OPTION,
  { key: "adapter", kind: "string", help: "PEFT adapter or run directory to attach" },
  { key: "chat-template", kind: "string", help: "chat template file" },
  {
    key: "dtype",
    kind: "choice",
    help: "in-memory dtype of the base weights",
    default: "f32",
    choices: STORAGE_DTYPES,
  },
  { key: "quantize", kind: "choice", help: "quantize the linear weights on load", choices: QUANTIZE_CHOICES },
];

/**
 * Loads a model directory ("demo": the bundled model) and its tokenizer, and attaches `options.adapter` if
 * given. The result goes to `generate({ model })`, `generateStream({ model })` and `evaluate({ model })`, which
 * then skip loading, and to `loadAdapter` to switch adapters.
 */
export function loadModel(model: string, options: LoadModelOptions = {}): Promise<LoadedModel> {
  return inCallerTerms(LOAD_OPTIONS, async () => {
    const o = resolveOptions<LoadModelOptions & { model: string }>("loadModel", LOAD_OPTIONS, { ...options, model });
    return loadForInference(o);
  });
}

/**
 * Attaches a PEFT adapter (a run directory, an adapter directory or a GGUF LoRA file) to a loaded model,
 * unmerged, in place of the one attached before, and returns the model. A run's chat_template.jinja becomes
 * the tokenizer's chat template unless the model was loaded with `chatTemplate`; a run's own tokenizer (from
 * --add-tokens) becomes the tokenizer. An adapter with trainable_token_indices cannot be replaced (its rows are in
 * the base's tables now).
 */
export function loadAdapter(loaded: LoadedModel, adapter: string): Promise<LoadedModel> {
  return inCallerTerms(LOAD_OPTIONS, async () => {
    checkIsAdapter(adapter);
    if (loaded.adapter?.trainableTokenIndices) {
      // Its token rows were written into the base's tables (and the vocabulary grown): detaching cannot undo that.
      throw new LoratuneError(
        "ERR_USAGE",
        `the adapter ${loaded.adapterPath} wrote rows of new tokens into the model (trainable_token_indices), which another adapter would inherit; load the model again for ${adapter}`,
      );
    }
    if (loaded.adapter !== null) detachAdapter(loaded.model);
    loaded.adapter = null;
    loaded.adapterPath = null;
    loaded.adapter = attachAdapterFiles(adapter, loaded.model, false);
    loaded.adapterPath = adapter;
    const template = chatTemplateFile(loaded.chatTemplate ?? undefined, adapter);
    if (hasRunTokenizer(adapter))
      loaded.tokenizer = loadTokenizer(adapter, template ? { chatTemplateFile: template } : {});
    else if (loaded.tokenizer && template)
      loaded.tokenizer = loadBaseTokenizer(loaded.dir, { chatTemplateFile: template });
    return loaded;
  });
}

/**
 * Loads the model, the adapter and the tokenizer. The chat template is, in order: `chatTemplate` (a file),
 * the adapter directory's chat_template.jinja (a run trained with a template keeps it there), the model's own.
 */
export function loadForInference(o: {
  model: string;
  revision?: string | undefined;
  adapter?: string | undefined;
  dtype?: StorageDType;
  quantize?: QuantizeChoice | undefined;
  chatTemplate?: string | undefined;
}): LoadedModel {
  const dir = resolveModelDir(o.model, o.revision);
  const model = loadModelDir(dir, { dtype: o.dtype ?? "f32", quantize: o.quantize });
  const hasTokenizer = baseHasTokenizer(dir);
  if (o.chatTemplate !== undefined) {
    if (!existsSync(o.chatTemplate))
      throw new LoratuneError("ERR_USAGE", `--chat-template ${o.chatTemplate}: no such file`);
    if (!hasTokenizer) {
      throw new LoratuneError(
        "ERR_USAGE",
        `--chat-template needs the model's tokenizer, and ${dir} ${missingTokenizerText(dir)}`,
      );
    }
  }
  if (o.adapter) checkIsAdapter(o.adapter);
  const adapter = o.adapter ? attachAdapterFiles(o.adapter, model, false) : null;
  const template = chatTemplateFile(o.chatTemplate, o.adapter);
  const opts = template ? { chatTemplateFile: template } : {};
  const tokenizer =
    o.adapter && hasRunTokenizer(o.adapter)
      ? loadTokenizer(o.adapter, opts)
      : hasTokenizer
        ? loadBaseTokenizer(dir, opts)
        : null;
  return { dir, model, adapter, adapterPath: o.adapter ?? null, tokenizer, chatTemplate: o.chatTemplate ?? null };
}

/**
 * Whether an adapter directory keeps its own tokenizer (a run with --add-tokens writes tokenizer.json there, with
 * the tokens its trainable_token_indices rows belong to); it is used instead of the base's.
 */
export function hasRunTokenizer(adapter: string): boolean {
  return !isGgufFile(adapter) && existsSync(join(adapter, "tokenizer.json"));
}

/**
 * A loaded model comes with its adapter, chat template and dtype: options that would load it differently are
 * refused rather than ignored.
 */
export function checkLoadedModelOptions(command: string, o: { model: unknown } & LoadModelOptions): void {
  if (typeof o.model === "string") return;
  const given = (["adapter", "chatTemplate", "dtype", "quantize"] as const).filter((key) => o[key] !== undefined);
  if (given.length === 0) return;
  const them = given.length === 1 ? "it" : "them";
  throw new LoratuneError(
    "ERR_USAGE",
    `${command}: the model given is loaded already, so ${given.join(" and ")} cannot apply; pass ${them} to ` +
      `loadModel()${given.includes("adapter") ? " (or the adapter to loadAdapter())" : ""}`,
  );
}

/** Refuses a whole model given as an adapter (a full fine-tuning run or a merged model). */
function checkIsAdapter(path: string): void {
  if (!existsSync(join(path, "adapter_config.json")) && existsSync(join(path, "config.json"))) {
    throw new LoratuneError(
      "ERR_USAGE",
      `${path} holds a whole model (a full fine-tuning run or a merged model), not an adapter: pass it as --model ${path}`,
    );
  }
}

/** The chat template file to use instead of the model's, if any: an explicit file, else the adapter's. */
export function chatTemplateFile(explicit: string | undefined, adapterDir: string | undefined): string | undefined {
  if (explicit !== undefined) return explicit;
  if (adapterDir === undefined) return undefined;
  const kept = join(adapterDir, RUN_CHAT_TEMPLATE);
  return existsSync(kept) ? kept : undefined;
}
