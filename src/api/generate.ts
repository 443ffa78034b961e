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

export function generate(o: GenerateOptions): GenerateOutput {
  const loaded =
    typeof o.model === "string"
      ? loadForInference({ model: o.model, adapter: o.adapter, dtype: o.dtype ?? "f32" })
      : o.model;
  const { model, tokenizer } = loaded;
  let promptIds: number[];
  if (o.promptIds) promptIds = o.promptIds;
  else if (o.prompt !== undefined) {
    if (!tokenizer)
      throw new LoratuneError(
        "ERR_USAGE",
        `${loaded.dir} has no tokenizer.json; pass --prompt-ids instead of --prompt`,
      );
    promptIds = o.chat
      ? tokenizer.encodeText(
          tokenizer.applyChatTemplate([{ role: "user", content: o.prompt }], { addGenerationPrompt: true }),
        )
      : tokenizer.encode(o.prompt, { eos: false });
  } else throw new LoratuneError("ERR_USAGE", "give a prompt (--prompt TEXT or --prompt-ids 1,2,3)");
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
