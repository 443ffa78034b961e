/** generate()'s prompt: given once, as text (plain, or as a chat message) or as token ids, and encoded. */
import { LoratuneError } from "../errors.ts";
import { missingTokenizerText } from "./model-source.ts";
import type { LoadedModel } from "./models.ts";

export interface PromptOptions {
  prompt?: string | undefined;
  promptIds?: number[] | undefined;
  chat?: boolean | undefined;
}

/** The prompt's token ids (a prompt `checkPrompt` let pass), checked against the model's vocabulary. */
export function encodePrompt(loaded: LoadedModel, o: PromptOptions): number[] {
  if (o.promptIds) return checkedIds(loaded, o.promptIds);
  const prompt = o.prompt as string;
  const { tokenizer, dir } = loaded;
  if (!tokenizer)
    throw new LoratuneError(
      "ERR_USAGE",
      `${dir} ${missingTokenizerText(dir)}, so text cannot be encoded; pass --prompt-ids instead of --prompt`,
    );
  if (o.chat && tokenizer.chatTemplate === null) {
    const adapter = loaded.adapterPath ? `, nor does the adapter ${loaded.adapterPath} (chat_template.jinja)` : "";
    throw new LoratuneError(
      "ERR_USAGE",
      `--chat: ${dir} has no chat template (tokenizer_config.json or chat_template.jinja)${adapter}; pass --chat-template FILE`,
    );
  }
  const ids = o.chat
    ? tokenizer.encodeText(
        tokenizer.applyChatTemplate([{ role: "user", content: prompt }], { addGenerationPrompt: true }),
      )
    : tokenizer.encode(prompt, { eos: false });
  if (ids.length === 0)
    throw new LoratuneError("ERR_USAGE", `--prompt: ${JSON.stringify(prompt)} encodes to no tokens`);
  return ids;
}

/** The prompt is given once, as text or as token ids (checked before the other options, with its own words). */
export function checkPrompt(o: PromptOptions): void {
  const fail = (msg: string): never => {
    throw new LoratuneError("ERR_USAGE", msg);
  };
  if (o.prompt !== undefined && o.promptIds !== undefined)
    fail("give the prompt once: --prompt (text) or --prompt-ids (token ids), not both");
  if (o.prompt === undefined && o.promptIds === undefined)
    fail("give a prompt: --prompt (text) or --prompt-ids (token ids)");
  if (o.prompt !== undefined && o.prompt === "") fail('--prompt: the prompt is empty (got "")');
  if (o.promptIds !== undefined && o.promptIds.length === 0) fail("--prompt-ids: no token ids given");
  if (o.chat && o.promptIds !== undefined)
    fail("--chat wraps --prompt text in the chat template; it cannot take --prompt-ids");
}

function checkedIds(loaded: LoadedModel, ids: number[]): number[] {
  const vocab = loaded.model.config.vocabSize;
  const bad = ids.find((id) => id >= vocab);
  if (bad !== undefined) {
    throw new LoratuneError(
      "ERR_USAGE",
      `--prompt-ids: token id ${bad} is outside the model's vocabulary (ids 0 to ${vocab - 1})`,
    );
  }
  return ids;
}
