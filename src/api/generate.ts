/** `generate()`: text or token ids from a prompt, with an optional unmerged adapter, using the KV cache. */
import { LoratuneError } from "../errors.ts";
import { getKernels } from "../kernels/index.ts";
import { generateTokens, type GenerateOptions as TokenOptions } from "../model/generate.ts";
import { type LoadedModel, loadForInference } from "./models.ts";

export interface GenerateOptions extends Omit<TokenOptions, "stopIds"> {
  model: string | LoadedModel;
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
  dtype?: "f32" | "bf16";
}

export interface GenerateOutput {
  ids: number[];
  text: string | null;
  promptIds: number[];
  /** eos: a stop token was emitted; max_tokens: maxTokens were generated; context: the model's context is full. */
  stoppedBy: "eos" | "max_tokens" | "context";
  tokensPerS: number;
}

/**
 * Checks the sampling options (the CLI's parsers check them too, naming the flags; library callers get the
 * same rules): usage errors naming the option.
 */
export function checkGenerateOptions(o: Partial<GenerateOptions>): void {
  const fail = (msg: string): never => {
    throw new LoratuneError("ERR_USAGE", msg);
  };
  const num = (v: number | undefined, name: string, ok: (x: number) => boolean, want: string) => {
    if (v !== undefined && !(Number.isFinite(v) && ok(v))) fail(`${name}: expected ${want}, got ${v}`);
  };
  if (o.prompt !== undefined && o.promptIds !== undefined)
    fail("give the prompt once: --prompt TEXT or --prompt-ids 1,2,3, not both");
  if (o.prompt === undefined && o.promptIds === undefined) fail("give a prompt (--prompt TEXT or --prompt-ids 1,2,3)");
  if (o.prompt !== undefined && o.prompt === "") fail('--prompt: the prompt is empty (got "")');
  if (o.promptIds !== undefined && o.promptIds.length === 0) fail("--prompt-ids: no token ids given");
  if (o.chat && o.promptIds !== undefined)
    fail("--chat wraps --prompt text in the chat template; it cannot take --prompt-ids");
  num(o.maxTokens, "--max-tokens", (x) => Number.isInteger(x) && x >= 1, "an integer ≥ 1");
  num(o.temperature, "--temperature", (x) => x >= 0, "a number ≥ 0");
  num(o.topK, "--top-k", (x) => Number.isInteger(x) && x >= 0, "an integer ≥ 0");
  num(o.topP, "--top-p", (x) => x > 0 && x <= 1, "a number in (0, 1]");
  num(o.repetitionPenalty, "--repetition-penalty", (x) => x > 0, "a number > 0");
  num(o.seed, "--seed", (x) => Number.isSafeInteger(x) && x >= 0, "an integer ≥ 0");
}

export function generate(o: GenerateOptions): GenerateOutput {
  checkGenerateOptions(o);
  const loaded =
    typeof o.model === "string"
      ? loadForInference({ model: o.model, adapter: o.adapter, dtype: o.dtype ?? "f32", chatTemplate: o.chatTemplate })
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
