/**
 * Loading a Hugging Face model directory's tokenizer (tokenizer.json, tokenizer_config.json, generation_config.json,
 * special_tokens_map.json and the chat template files) into a Tokenizer (tokenizer.ts, which reads no file).
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { LoratuneError } from "../errors.ts";
import { readTextFile } from "../io/json-file.ts";
import { tokenizerOptions } from "./chat-template-file.ts";
import { type LoadTokenizerOptions, Tokenizer } from "./tokenizer.ts";

type Json = Record<string, unknown>;

/** Load the tokenizer of a Hugging Face model directory. */
export function loadTokenizer(dir: string, opts: LoadTokenizerOptions = {}): Tokenizer {
  const tokPath = join(dir, "tokenizer.json");
  if (!existsSync(tokPath)) {
    const sp = existsSync(join(dir, "tokenizer.model"))
      ? " (only tokenizer.model, a SentencePiece file, is there)"
      : "";
    throw new LoratuneError(
      "ERR_TOKENIZER",
      `${dir}: no tokenizer.json${sp}; loratune needs the Hugging Face fast-tokenizer file tokenizer.json`,
    );
  }
  const jinjaPath = join(dir, "chat_template.jinja");
  // The directory's template files are not read at all when an override file is given.
  const own = opts.chatTemplateFile === undefined;
  return new Tokenizer(
    {
      origin: dir,
      tokenizer: readJson(tokPath),
      config: readJsonIfExists(join(dir, "tokenizer_config.json")),
      generationConfig: readJsonIfExists(join(dir, "generation_config.json")),
      specialTokensMap: readJsonIfExists(join(dir, "special_tokens_map.json")),
      chatTemplateJinja: own && existsSync(jinjaPath) ? readTextFile(jinjaPath, "ERR_TOKENIZER") : null,
      chatTemplateJson: own ? readJsonIfExists(join(dir, "chat_template.json")) : null,
    },
    tokenizerOptions(opts),
  );
}

function readJson(path: string): Json {
  const text = readTextFile(path, "ERR_TOKENIZER");
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (err) {
    throw new LoratuneError("ERR_TOKENIZER", `${path}: invalid JSON (${(err as Error).message})`, { cause: err });
  }
  if (v === null || typeof v !== "object" || Array.isArray(v)) {
    throw new LoratuneError("ERR_TOKENIZER", `${path}: invalid JSON (not a JSON object)`);
  }
  return v as Json;
}

function readJsonIfExists(path: string): Json | null {
  return existsSync(path) ? readJson(path) : null;
}
