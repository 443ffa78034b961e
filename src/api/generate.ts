/** `generate()`: text or token ids from a prompt, with an optional unmerged adapter, using the KV cache. */
import { LoratuneError } from "../errors.ts";
import { getKernels } from "../kernels/index.ts";
import { generateTokens, type GenerateOptions as TokenOptions } from "../model/generate.ts";
import { GREEDY } from "../model/sampling.ts";
import { type QuantizeChoice, STORAGE_DTYPES, type StorageDType } from "../tensor/formats/index.ts";
import { type LoadedModel, loadForInference } from "./models.ts";
import { type OptionDef, resolveOptions } from "./options.ts";
import { QUANTIZE_OPTION } from "./quantize-option.ts";

/** `loratune generate`'s options; `generate()` takes the same, camelCased, and defaults the rest from here. */
export const GENERATE_OPTIONS: readonly OptionDef[] = [
  { key: "model", kind: "string", help: "model directory, or 'demo'", metavar: "dir", required: true },
  { key: "adapter", kind: "string", help: "PEFT adapter or run directory to apply (unmerged)", metavar: "dir" },
  {
    key: "prompt",
    kind: "string",
    help: "prompt text (needs the model's tokenizer.json); or --prompt-ids",
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
  },
];

/**
 * What `generate()` takes: the model (a directory, or one already loaded) and the prompt, and any option that
 * differs from GENERATE_OPTIONS' defaults.
 */
export interface GenerateOptions extends Omit<TokenOptions, "stopIds" | "maxTokens"> {
  model: string | LoadedModel;
  maxTokens?: number;
  adapter?: string;
  prompt?: string;
  promptIds?: number[];
  /** Render `prompt` as a user message with the chat template (and the generation prompt). */
  chat?: boolean;
  /**
   * A chat template file for `chat` (Jinja, or JSON with "chat_template"). Default: the adapter directory's
   * chat_template.jinja (kept by the run that trained it), else the model's template.
   */
  chatTemplate?: string;
  dtype?: StorageDType;
  /** Quantize the base's linear weights on load (--quantize). */
  quantize?: QuantizeChoice;
}

export interface GenerateOutput {
  ids: number[];
  text: string | null;
  promptIds: number[];
  /** eos: a stop token was emitted; max_tokens: maxTokens were generated; context: the model's context is full. */
  stoppedBy: "eos" | "max_tokens" | "context";
  tokensPerS: number;
}

/** The prompt is given once, as text or as token ids: usage errors naming the options. */
function checkPrompt(o: Partial<GenerateOptions>): void {
  const fail = (msg: string): never => {
    throw new LoratuneError("ERR_USAGE", msg);
  };
  if (o.prompt !== undefined && o.promptIds !== undefined)
    fail("give the prompt once: --prompt TEXT or --prompt-ids 1,2,3, not both");
  if (o.prompt === undefined && o.promptIds === undefined) fail("give a prompt (--prompt TEXT or --prompt-ids 1,2,3)");
  if (o.prompt !== undefined && o.prompt === "") fail('--prompt: the prompt is empty (got "")');
  if (o.promptIds !== undefined && o.promptIds.length === 0) fail("--prompt-ids: no token ids given");
  if (o.chat && o.promptIds !== undefined)
    fail("--chat wraps --prompt text in the chat template; it cannot take --prompt-ids");
}

/** A loaded model (not a directory) is not an option of the table. */
const WITHOUT_MODEL = GENERATE_OPTIONS.filter((d) => d.key !== "model");

export function generate(options: GenerateOptions): GenerateOutput {
  checkPrompt(options);
  const table = typeof options.model === "string" ? GENERATE_OPTIONS : WITHOUT_MODEL;
  const o = resolveOptions<GenerateOptions & { maxTokens: number; dtype: StorageDType }>("generate", table, options);
  const loaded =
    typeof o.model === "string"
      ? loadForInference({
          model: o.model,
          adapter: o.adapter,
          dtype: o.dtype,
          quantize: o.quantize,
          chatTemplate: o.chatTemplate,
        })
      : o.model;
  const { model, tokenizer } = loaded;
  let promptIds: number[];
  if (o.promptIds) {
    promptIds = o.promptIds;
    const vocab = model.config.vocabSize;
    const bad = promptIds.find((id) => id >= vocab);
    if (bad !== undefined) {
      throw new LoratuneError(
        "ERR_USAGE",
        `--prompt-ids: token id ${bad} is outside the model's vocabulary (ids 0 to ${vocab - 1})`,
      );
    }
  } else {
    const prompt = o.prompt as string;
    if (!tokenizer)
      throw new LoratuneError(
        "ERR_USAGE",
        `${loaded.dir} has no tokenizer.json, so text cannot be encoded; pass --prompt-ids instead of --prompt`,
      );
    if (o.chat && tokenizer.chatTemplate === null) {
      throw new LoratuneError(
        "ERR_USAGE",
        `--chat: ${loaded.dir} has no chat template (tokenizer_config.json or chat_template.jinja)` +
          `${o.adapter ? `, nor does the adapter ${o.adapter} (chat_template.jinja)` : ""}; pass --chat-template FILE`,
      );
    }
    promptIds = o.chat
      ? tokenizer.encodeText(
          tokenizer.applyChatTemplate([{ role: "user", content: prompt }], { addGenerationPrompt: true }),
        )
      : tokenizer.encode(prompt, { eos: false });
    if (promptIds.length === 0) {
      throw new LoratuneError("ERR_USAGE", `--prompt: ${JSON.stringify(prompt)} encodes to no tokens`);
    }
  }
  const stopIds = tokenizer?.stopIds.length ? tokenizer.stopIds : model.config.eosTokenIds;
  const res = generateTokens(getKernels(), model, promptIds, { ...o, stopIds });
  return {
    ids: res.ids,
    text: tokenizer ? tokenizer.decode(res.ids, { skipSpecialTokens: true }) : null,
    promptIds,
    stoppedBy: res.stoppedBy,
    tokensPerS: res.ids.length / Math.max(res.decodeSeconds, 1e-9),
  };
}
