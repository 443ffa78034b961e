/**
 * Adding special tokens to a model directory's tokenizer (train --add-tokens), as transformers'
 * `tokenizer.add_special_tokens({"additional_special_tokens": [...]})` and `save_pretrained` leave the files:
 * - tokenizer.json: each token appended to `added_tokens` ({id, content, single_word false, lstrip false,
 *   rstrip false, normalized false, special true}), ids from len(tokenizer) (its largest id + 1) upwards;
 * - tokenizer_config.json: the same entries in `added_tokens_decoder` (by id as a string) and the texts appended to
 *   `additional_special_tokens`.
 * A token already in the vocabulary (an added token, or a piece of the model's vocabulary) is refused: transformers
 * skips it and reuses its id, but loratune trains only new rows, so the row it names would stay frozen.
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { LoratuneError } from "../errors.ts";
import { readJsonObject, readTextFile } from "../io/json-file.ts";
import { tokenizerOptions } from "./chat-template-file.ts";
import { Tokenizer } from "./tokenizer.ts";

/** The files of a tokenizer with added tokens, by file name (JSON text), and the new tokens' ids. */
export interface TokenizerWithAdded {
  tokenizer: Tokenizer;
  files: Map<string, string>;
  /** The first new id; the tokens have ids first, first + 1, … in the order given. */
  first: number;
  count: number;
}

/** Files copied unchanged next to the tokenizer so that the run's copy loads on its own. */
const KEPT_FILES = ["special_tokens_map.json", "generation_config.json"];

/** Parses --add-tokens ("<|a|>,<|b|>"): non-empty, without duplicates. */
export function parseAddTokens(text: string): string[] {
  const tokens = text.split(",").map((t) => t.trim());
  const empty = tokens.findIndex((t) => t === "");
  if (empty >= 0) throw new LoratuneError("ERR_USAGE", `--add-tokens "${text}": item ${empty + 1} is empty`);
  const dup = tokens.find((t, i) => tokens.indexOf(t) !== i);
  if (dup !== undefined) throw new LoratuneError("ERR_USAGE", `--add-tokens names "${dup}" twice`);
  return tokens;
}

/** Whether `content` is a piece of the model vocabulary (BPE/WordPiece/WordLevel object, Unigram list). */
function inModelVocab(tokJson: Record<string, unknown>, content: string): boolean {
  const vocab = (tokJson.model as { vocab?: unknown } | undefined)?.vocab;
  if (Array.isArray(vocab)) return vocab.some((e) => Array.isArray(e) && e[0] === content);
  return typeof vocab === "object" && vocab !== null && Object.hasOwn(vocab, content);
}

/**
 * The tokenizer of `dir` with `tokens` added as special tokens. `chatTemplateFile` as loadTokenizer takes it.
 * ERR_USAGE when a token is already in the vocabulary (its id is named).
 */
export function addSpecialTokens(
  dir: string,
  tokens: readonly string[],
  chatTemplateFile?: string,
): TokenizerWithAdded {
  const tokPath = join(dir, "tokenizer.json");
  if (!existsSync(tokPath)) {
    throw new LoratuneError("ERR_USAGE", `--add-tokens needs the model's tokenizer.json, and ${dir} has none`);
  }
  const opts = chatTemplateFile !== undefined ? { chatTemplateFile } : {};
  const tokJson = readJsonObject(tokPath, "ERR_TOKENIZER");
  const cfgPath = join(dir, "tokenizer_config.json");
  const config = existsSync(cfgPath) ? readJsonObject(cfgPath, "ERR_TOKENIZER") : {};
  const base = new Tokenizer({ origin: dir, tokenizer: tokJson, config }, tokenizerOptions(opts));
  const added = base.addedTokenTexts();
  for (const t of tokens) {
    if (added.includes(t) || inModelVocab(tokJson, t)) {
      const ids = base.encodeText(t);
      throw new LoratuneError(
        "ERR_USAGE",
        `--add-tokens: "${t}" is already in ${tokPath} (id ${ids.join(", ")}); transformers would reuse that id, but only new rows train here, so leave it out`,
      );
    }
  }
  const first = base.vocabSize;
  const entries = tokens.map((content, i) => ({
    id: first + i,
    content,
    single_word: false,
    lstrip: false,
    rstrip: false,
    normalized: false,
    special: true,
  }));
  const newTok = { ...tokJson, added_tokens: [...((tokJson.added_tokens as unknown[]) ?? []), ...entries] };
  const decoder = { ...((config.added_tokens_decoder as Record<string, unknown>) ?? {}) };
  for (const { id, ...rest } of entries) decoder[String(id)] = rest;
  const extra = Array.isArray(config.additional_special_tokens) ? config.additional_special_tokens : [];
  const newCfg = { ...config, added_tokens_decoder: decoder, additional_special_tokens: [...extra, ...tokens] };
  const files = new Map<string, string>([
    ["tokenizer.json", `${JSON.stringify(newTok)}\n`],
    ["tokenizer_config.json", `${JSON.stringify(newCfg, null, 2)}\n`],
  ]);
  for (const f of KEPT_FILES) {
    if (existsSync(join(dir, f)))
      files.set(f, `${JSON.stringify(readJsonObject(join(dir, f), "ERR_TOKENIZER"), null, 2)}\n`);
  }
  const special = files.has("special_tokens_map.json") ? JSON.parse(files.get("special_tokens_map.json")!) : null;
  const gen = files.has("generation_config.json") ? JSON.parse(files.get("generation_config.json")!) : null;
  const tokenizer = new Tokenizer(
    {
      origin: dir,
      tokenizer: newTok,
      config: newCfg,
      specialTokensMap: special,
      generationConfig: gen,
      ...templates(dir, opts),
    },
    tokenizerOptions(opts),
  );
  return { tokenizer, files, first, count: tokens.length };
}

/** The directory's chat template sources, as loadTokenizer reads them (none when a template file overrides). */
function templates(dir: string, opts: { chatTemplateFile?: string }) {
  if (opts.chatTemplateFile !== undefined) return {};
  const jinja = join(dir, "chat_template.jinja");
  const json = join(dir, "chat_template.json");
  return {
    chatTemplateJinja: existsSync(jinja) ? readTextFile(jinja, "ERR_TOKENIZER") : null,
    chatTemplateJson: existsSync(json) ? readJsonObject(json, "ERR_TOKENIZER") : null,
  };
}
