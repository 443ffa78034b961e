import { getKernels } from "../kernels/index.ts";
import { generateSteps } from "../model/generate.ts";
import { GREEDY } from "../model/sampling.ts";
import { type QuantizeChoice, STORAGE_DTYPES, type StorageDType } from "../tensor/formats/index.ts";
import { checkPrompt, encodePrompt } from "./generate-prompt.ts";
import { checkLoadedModelOptions, type LoadedModel, loadForInference } from "./models.ts";
import { callerError } from "./option-names.ts";
import { defaultsOf, type OptionDef, resolveOptions } from "./options.ts";
import { QUANTIZE_OPTION } from "./quantize-option.ts";
import { REVISION_OPTION } from "./revision-option.ts";
import { TextPieces } from "./text-pieces.ts";

/** `loratune generate`'s options; `generate()` takes the same, camelCased, and defaults the rest from here. */
export const GENERATE_OPTIONS: readonly OptionDef[] = [
  {
    key: "model",
    kind: "string",
    help: "model directory, GGUF file, ollama:NAME, org/name (the Hugging Face cache), or 'demo'",
    metavar: "dir",
    required: true,
  },
  REVISION_OPTION,
  { key: "adapter", kind: "string", help: "PEFT adapter or run directory to apply (unmerged)", metavar: "dir" },
  {
    key: "prompt",
    kind: "string",
    help: "prompt text (needs the model's tokenizer); or --prompt-ids",
    metavar: "text",
  },
  {
    key: "prompt-ids",
    kind: "ints",
    help: "prompt as comma-separated token ids; or --prompt",
    metavar: "ids",
    item: "token id",
    min: 0,
  },
  { key: "chat", kind: "bool", help: "wrap --prompt as a user message with the chat template" },
  {
    key: "chat-template",
    kind: "string",
    help: "chat template for --chat",
    defaultText: "the adapter's chat_template.jinja, else the model's",
    metavar: "file",
  },
  { key: "max-tokens", kind: "int", help: "tokens to generate at most", default: 64, min: 1 },
  {
    key: "temperature",
    kind: "number",
    help: "sampling temperature; 0 = greedy",
    default: GREEDY.temperature,
    min: 0,
    metavar: "t",
  },
  {
    key: "top-k",
    kind: "int",
    help: "sample among the k most likely tokens (0 = off)",
    default: GREEDY.topK,
    min: 0,
    metavar: "k",
  },
  {
    key: "top-p",
    kind: "number",
    help: "nucleus sampling threshold in (0, 1] (1 = off)",
    default: GREEDY.topP,
    above: 0,
    max: 1,
    metavar: "p",
  },
  {
    key: "repetition-penalty",
    kind: "number",
    help: "penalty > 0 for tokens already present (1 = off)",
    default: GREEDY.repetitionPenalty,
    above: 0,
    metavar: "x",
  },
  { key: "seed", kind: "int", help: "sampling seed", default: 0, min: 0 },
  {
    key: "dtype",
    kind: "choice",
    help: `in-memory dtype of the base weights: ${STORAGE_DTYPES.join(" or ")}`,
    default: "f32",
    choices: STORAGE_DTYPES,
  },
  QUANTIZE_OPTION,
  {
    key: "json",
    kind: "bool",
    help: 'print {"ids": [...], "text": "..." or null, "prompt_tokens": n, "stopped_by": "eos" | "max_tokens" | "context"}',
    control: true,
    cliOnly: true,
  },
];

/**
 * What `generate()` and `generateStream()` take: the model (a directory, or one loaded with `loadModel()`) and
 * the prompt (`prompt` text or `promptIds`), and any option that differs from its default (GENERATE_DEFAULTS).
 */
export interface GenerateOptions {
  /** Model directory ("demo": the bundled model), or a model already loaded with `loadModel()`. */
  model: string | LoadedModel;
  /** With a Hugging Face cache id (`org/name`): the branch, tag or commit hash of the snapshot (default: main). */
  revision?: string;
  /** PEFT adapter or run directory to apply, unmerged (a directory `model` only; a loaded model brings its own). */
  adapter?: string;
  /** Prompt text (needs the model's tokenizer.json); or `promptIds`. */
  prompt?: string;
  /** Prompt as token ids; or `prompt`. */
  promptIds?: number[];
  /** Render `prompt` as a user message with the chat template (and the generation prompt). */
  chat?: boolean;
  /**
   * A chat template file for `chat` (Jinja, or JSON with "chat_template"). Default: the adapter directory's
   * chat_template.jinja (kept by the run that trained it), else the model's template.
   */
  chatTemplate?: string;
  /**
   * Tokens to generate at most.
   * @defaultValue 64
   */
  maxTokens?: number;
  /**
   * Sampling temperature; 0 = greedy.
   * @defaultValue 0
   */
  temperature?: number;
  /**
   * Sample among the k most likely tokens (0 = off).
   * @defaultValue 0
   */
  topK?: number;
  /**
   * Nucleus sampling threshold in (0, 1] (1 = off).
   * @defaultValue 1
   */
  topP?: number;
  /**
   * Penalty above 0 for tokens already present (1 = off).
   * @defaultValue 1
   */
  repetitionPenalty?: number;
  /**
   * Sampling seed.
   * @defaultValue 0
   */
  seed?: number;
  /**
   * In-memory dtype of the base weights.
   * @defaultValue "f32"
   */
  dtype?: StorageDType;
  /** Quantize the base's linear weights on load (ggml's Q8_0 or Q4_K blocks; costs accuracy). */
  quantize?: QuantizeChoice;
  /** Stops generating before the next token: `generate()` rejects, and the stream throws, with its reason. */
  signal?: AbortSignal;
}

/** Every generate option's default, by its library name. */
export const GENERATE_DEFAULTS = defaultsOf<GenerateOptions>(GENERATE_OPTIONS);

/** One generated token, as the stream yields it. */
export interface GeneratedToken {
  id: number;
  /**
   * The text this token adds: "" while it leaves a character incomplete (and without a tokenizer). Joined, the
   * pieces are the output's `text` (but for a character the last token leaves incomplete).
   */
  text: string;
}

export interface GenerateOutput {
  /** The generated token ids (a stop token included). */
  ids: number[];
  /** The ids decoded, special tokens left out; null when the model has no tokenizer. */
  text: string | null;
  promptIds: number[];
  /** eos: a stop token was emitted; max_tokens: maxTokens were generated; context: the model's context is full. */
  stoppedBy: "eos" | "max_tokens" | "context";
  /** Decoding speed (the prompt's prefill not counted). */
  tokensPerS: number;
}

/**
 * Generates a continuation of the prompt, yielding each token as it is sampled; the generator's return value
 * (what `generate()` resolves with) is the whole output. Leaving a `for await` loop early stops generating.
 */
export async function* generateStream(options: GenerateOptions): AsyncGenerator<GeneratedToken, GenerateOutput> {
  try {
    return yield* tokens(options);
  } catch (err) {
    throw callerError(err, GENERATE_OPTIONS);
  }
}

/** Generates a continuation of the prompt (the stream run to its end). */
export async function generate(options: GenerateOptions): Promise<GenerateOutput> {
  const stream = generateStream(options);
  for (;;) {
    const next = await stream.next();
    if (next.done) return next.value;
  }
}

/** The options a loaded model does not take: it was loaded already (with its adapter and template). */
const LOADING = ["model", "adapter", "chat-template", "dtype", "quantize"];
const WITHOUT_LOADING = GENERATE_OPTIONS.filter((d) => !LOADING.includes(d.key));

async function* tokens(options: GenerateOptions): AsyncGenerator<GeneratedToken, GenerateOutput> {
  options.signal?.throwIfAborted();
  checkPrompt(options);
  checkLoadedModelOptions("generate", options);
  const table = typeof options.model === "string" ? GENERATE_OPTIONS : WITHOUT_LOADING;
  const o = resolveOptions<GenerateOptions & { maxTokens: number; dtype: StorageDType }>("generate", table, options);
  const loaded = typeof o.model === "string" ? loadForInference({ ...o, model: o.model }) : o.model;
  const { model, tokenizer } = loaded;
  const promptIds = encodePrompt(loaded, o);
  const stopIds = tokenizer?.stopIds.length ? tokenizer.stopIds : model.config.eosTokenIds;
  const steps = generateSteps(getKernels(), model, promptIds, { ...o, stopIds });
  const pieces = new TextPieces(tokenizer);
  for (;;) {
    const next = steps.next();
    if (next.done) {
      const res = next.value;
      return {
        ids: res.ids,
        text: tokenizer ? tokenizer.decode(res.ids, { skipSpecialTokens: true }) : null,
        promptIds,
        stoppedBy: res.stoppedBy,
        tokensPerS: res.ids.length / Math.max(res.decodeSeconds, 1e-9),
      };
    }
    yield { id: next.value, text: pieces.push(next.value) };
    // Between tokens: let timers and I/O run (an abort among them), then honour the signal.
    await new Promise<void>((resolve) => setImmediate(resolve));
    o.signal?.throwIfAborted();
  }
}
