/**
 * Chat template override files (--chat-template): read from disk here, so that chat-template.ts and the
 * Tokenizer class stay free of the file system (the browser bundle uses both).
 */
import { readFileSync } from "node:fs";
import { LoratuneError } from "../errors.ts";
import { resolveChatTemplate } from "./chat-template.ts";
import type { LoadTokenizerOptions, TokenizerOptions } from "./tokenizer.ts";

/**
 * Read a chat template override. A `.json` file may hold {"chat_template": …} (a tokenizer_config.json, or
 * transformers' chat_template.json) or a bare JSON string; any other file is the Jinja source itself.
 */
export function loadChatTemplateFile(path: string, name?: string): string {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    throw new LoratuneError("ERR_IO", `${path}: cannot read chat template file (${(err as Error).message})`, {
      cause: err,
    });
  }
  if (!path.toLowerCase().endsWith(".json")) {
    if (text.trim() === "") throw new LoratuneError("ERR_TOKENIZER", `${path}: chat template file is empty`);
    return text;
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new LoratuneError("ERR_TOKENIZER", `${path}: invalid JSON (${(err as Error).message})`, { cause: err });
  }
  const raw = typeof json === "string" ? json : (json as Record<string, unknown> | null)?.chat_template;
  const t = resolveChatTemplate(raw, path, name);
  if (t === null) throw new LoratuneError("ERR_TOKENIZER", `${path}: no "chat_template" key in this JSON file`);
  return t;
}

/** The Tokenizer constructor's options for loader options: the override file read (with its template name). */
export function tokenizerOptions(opts: LoadTokenizerOptions): TokenizerOptions {
  const name = opts.chatTemplateName;
  const file = opts.chatTemplateFile;
  return {
    ...(name !== undefined ? { chatTemplateName: name } : {}),
    ...(file !== undefined ? { chatTemplate: { template: loadChatTemplateFile(file, name), origin: file } } : {}),
  };
}
