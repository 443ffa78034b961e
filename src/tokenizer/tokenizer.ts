/**
 * A model directory's tokenizer: tokenizer.json (through @huggingface/tokenizers) plus the special tokens and
 * flags of tokenizer_config.json, special_tokens_map.json and generation_config.json, and the chat template.
 *
 * Chat template precedence, as transformers loads a directory: chat_template.jinja, then chat_template.json
 * ({"chat_template": …}, Gemma 3's layout), then tokenizer_config.json's `chat_template`; the first that exists
 * is used (a template file given in the options overrides all three).
 *
 * BOS/EOS policy: the library is always called with add_special_tokens=false and we add BOS/EOS ourselves,
 * so that every caller sees one rule: `add_bos_token` / `add_eos_token` from tokenizer_config.json when
 * present, otherwise whatever tokenizer.json's post-processor adds (found by probing it once).
 * Special tokens are looked up in tokenizer_config.json, then special_tokens_map.json, then by id in
 * generation_config.json. `stopIds` = EOS plus every generation_config `eos_token_id` (e.g. Llama-3's <|eot_id|>).
 *
 * The class reads no file (the browser bundle builds it from fetched files); load-tokenizer.ts reads a directory.
 */
import { Tokenizer as HfTokenizer } from "@huggingface/tokenizers";
import { LoratuneError } from "../errors.ts";
import { previewJson } from "../io/preview.ts";
import { type ChatTemplateMessage, type ChosenChatTemplate, chooseChatTemplate, renderChat } from "./chat-template.ts";

export interface SpecialToken {
  text: string;
  id: number;
}

export interface LoadTokenizerOptions {
  /** Use this chat template file instead of the model's (Jinja source, or JSON with "chat_template"). */
  chatTemplateFile?: string;
  /** Which named template to use when there are several (default: "default"). */
  chatTemplateName?: string;
}

/**
 * The Tokenizer constructor's options: no file is read here (the browser bundle builds tokenizers from fetched
 * files); chat-template-file.ts's tokenizerOptions turns LoadTokenizerOptions into these.
 */
export interface TokenizerOptions {
  /** A template that overrides the sources' (an override file already read). */
  chatTemplate?: ChosenChatTemplate;
  /** Which named template to use when there are several (default: "default"). */
  chatTemplateName?: string;
  /** Never a file here: read it with tokenizerOptions (chat-template-file.ts). */
  chatTemplateFile?: never;
}

/** The parsed files of a tokenizer; only `tokenizer` is required. `origin` names the directory in errors. */
export interface TokenizerSources {
  origin: string;
  tokenizer: unknown;
  config?: Record<string, unknown> | null;
  generationConfig?: Record<string, unknown> | null;
  specialTokensMap?: Record<string, unknown> | null;
  /** The text of chat_template.jinja; preferred over the other two sources. */
  chatTemplateJinja?: string | null;
  /** The parsed chat_template.json ({"chat_template": string or named list}); preferred over tokenizer_config.json. */
  chatTemplateJson?: Record<string, unknown> | null;
  /** How errors name the tokenizer and its config (default: tokenizer.json and tokenizer_config.json in `origin`). */
  tokenizerFile?: string;
  configFile?: string;
}

type Json = Record<string, unknown>;

export class Tokenizer {
  readonly origin: string;
  /** Highest token id + 1 (model vocabulary and added tokens). */
  readonly vocabSize: number;
  readonly bos: SpecialToken | null;
  readonly eos: SpecialToken | null;
  readonly pad: SpecialToken | null;
  readonly unk: SpecialToken | null;
  /** Whether `encode` adds BOS / EOS by default. */
  readonly addBos: boolean;
  readonly addEos: boolean;
  /** Ids that end generation: EOS and generation_config.json's eos_token_id(s), without duplicates. */
  readonly stopIds: number[];
  /** The chat template in use, or null when the model has none. */
  readonly chatTemplate: string | null;
  readonly chatTemplateOrigin: string;
  private readonly impl: HfTokenizer;
  private readonly specialIds: Set<number>;
  /** Text of every added token (special or not) by id: the pieces the library splits text on first. */
  private readonly addedTexts: Map<number, string>;
  private readonly cleanUpSpaces: boolean;
  /** The names of the tokenizer file and its config in errors. */
  private readonly file: string;
  private readonly configFile: string;

  constructor(src: TokenizerSources, opts: TokenizerOptions = {}) {
    this.origin = src.origin;
    this.file = src.tokenizerFile ?? `${src.origin}/tokenizer.json`;
    this.configFile = src.configFile ?? `${src.origin}/tokenizer_config.json`;
    const config = src.config ?? {};
    const { impl, maxId } = createImpl(src.tokenizer, config, this.file);
    this.impl = impl;
    this.vocabSize = maxId + 1;
    this.specialIds = new Set();
    this.addedTexts = new Map();
    for (const [id, t] of this.impl.get_added_tokens_decoder()) {
      this.addedTexts.set(id, t.content);
      if (t.special) this.specialIds.add(id);
    }
    const gen = src.generationConfig ?? {};
    const map = src.specialTokensMap ?? {};
    this.bos = this.special("bos_token", config, map, gen.bos_token_id);
    this.eos = this.special("eos_token", config, map, gen.eos_token_id);
    this.pad = this.special("pad_token", config, map, gen.pad_token_id);
    this.unk = this.special("unk_token", config, map, undefined);
    const probe = guard(this.file, "encoding a probe text", () => this.probePostProcessor());
    this.addBos = this.bos !== null && (typeof config.add_bos_token === "boolean" ? config.add_bos_token : probe.bos);
    this.addEos = this.eos !== null && (typeof config.add_eos_token === "boolean" ? config.add_eos_token : probe.eos);
    this.stopIds = stopIds(this.eos, gen.eos_token_id);
    this.cleanUpSpaces = config.clean_up_tokenization_spaces === true;
    const chosen = chooseChatTemplate(
      src.origin,
      { jinja: src.chatTemplateJinja, json: src.chatTemplateJson, config: config.chat_template },
      opts.chatTemplate,
      opts.chatTemplateName,
      this.configFile,
    );
    this.chatTemplate = chosen?.template ?? null;
    this.chatTemplateOrigin = chosen?.origin ?? this.configFile;
  }

  /** Token ids of `text` without any special tokens added (special-token text inside `text` is still matched). */
  encodeText(text: string): number[] {
    if (text === "") return [];
    const enc = guard(this.file, "encoding", () => this.impl.encode(text, { add_special_tokens: false }));
    // A piece missing from the vocabulary of a tokenizer without unk_token comes back as an undefined id.
    const bad = enc.ids.findIndex(
      (id: number | undefined) => !(id !== undefined && Number.isInteger(id) && id >= 0 && id < this.vocabSize),
    );
    if (bad >= 0) {
      throw new LoratuneError(
        "ERR_TOKENIZER",
        `${this.file}: the piece ${previewJson(enc.tokens[bad])} of the text has no id in the ` +
          "vocabulary (and there is no unk_token); the tokenizer file is incomplete or corrupt",
      );
    }
    return enc.ids;
  }

  /** Token ids of `text`, with BOS/EOS added as the tokenizer config says unless overridden. */
  encode(text: string, opts: { bos?: boolean; eos?: boolean } = {}): number[] {
    const ids = this.encodeText(text);
    if ((opts.bos ?? this.addBos) && this.bos) ids.unshift(this.bos.id);
    if ((opts.eos ?? this.addEos) && this.eos) ids.push(this.eos.id);
    return ids;
  }

  /** Text of `ids`. Spaces are not "cleaned up" unless tokenizer_config.json asks for it, so decode∘encode = id. */
  decode(ids: ArrayLike<number>, opts: { skipSpecialTokens?: boolean } = {}): string {
    const arr = Array.from(ids);
    const kept = opts.skipSpecialTokens ? arr.filter((id) => !this.specialIds.has(id)) : arr;
    if (kept.length === 0) return "";
    for (const id of kept) {
      if (!Number.isInteger(id) || id < 0 || id >= this.vocabSize) {
        throw new LoratuneError(
          "ERR_TOKENIZER",
          `${this.origin}: token id ${id} is outside the vocabulary [0, ${this.vocabSize})`,
        );
      }
    }
    return guard(this.file, "decoding", () =>
      this.impl.decode(kept, { clean_up_tokenization_spaces: this.cleanUpSpaces }),
    );
  }

  tokenToId(token: string): number | undefined {
    return this.impl.token_to_id(token);
  }

  idToToken(id: number): string | undefined {
    return this.impl.id_to_token(id);
  }

  /** Whether `id` is a special added token (BOS, EOS, <|im_start|>, …). */
  isSpecial(id: number): boolean {
    return this.specialIds.has(id);
  }

  /** The text of added token `id` (special or not, e.g. "<|im_end|>"), or undefined when `id` is not one. */
  addedTokenText(id: number): string | undefined {
    return this.addedTexts.get(id);
  }

  /** The texts of all added tokens (special or not), in id order. */
  addedTokenTexts(): string[] {
    return [...this.addedTexts.values()];
  }

  /** Render `messages` with this tokenizer's chat template and special-token strings. */
  applyChatTemplate(
    messages: ChatTemplateMessage[],
    opts: { addGenerationPrompt?: boolean; vars?: Record<string, unknown> } = {},
  ): string {
    if (this.chatTemplate === null) {
      throw new LoratuneError(
        "ERR_TOKENIZER",
        `${this.origin}: the tokenizer has no chat_template (chat_template.jinja, chat_template.json or ` +
          "tokenizer_config.json); give one with a chat template file",
      );
    }
    return renderChat(this.chatTemplate, messages, {
      addGenerationPrompt: opts.addGenerationPrompt ?? false,
      bos_token: this.bos?.text ?? null,
      eos_token: this.eos?.text ?? null,
      unk_token: this.unk?.text ?? null,
      pad_token: this.pad?.text ?? null,
      origin: this.chatTemplateOrigin,
      ...(opts.vars ? { vars: opts.vars } : {}),
    });
  }

  /** Shorthand for applyChatTemplate(messages, { addGenerationPrompt }). */
  renderChat(messages: ChatTemplateMessage[], addGenerationPrompt = false): string {
    return this.applyChatTemplate(messages, { addGenerationPrompt });
  }

  /**
   * Resolve a special token from config, special_tokens_map, then a generation_config id. A BOS/EOS named
   * in a config but missing from tokenizer.json is an error; a missing PAD/UNK is treated as absent.
   */
  private special(key: string, config: Json, map: Json, genId: unknown): SpecialToken | null {
    const [text, file] =
      config[key] !== undefined
        ? [tokenText(config[key]), this.configFile]
        : [tokenText(map[key]), `${this.origin}/special_tokens_map.json`];
    if (text !== null) {
      const id = this.impl.token_to_id(text);
      if (id === undefined && (key === "pad_token" || key === "unk_token")) return null; // only a filler: tolerate
      if (id === undefined) {
        throw new LoratuneError(
          "ERR_TOKENIZER",
          `${file}: ${key} ${previewJson(text)} is not in the vocabulary of ${this.file}`,
        );
      }
      return { text, id };
    }
    const id = Array.isArray(genId) ? genId[0] : genId;
    if (typeof id === "number" && Number.isInteger(id) && id >= 0 && id < this.vocabSize) {
      const t = this.impl.id_to_token(id);
      if (t !== undefined) return { text: t, id };
    }
    return null;
  }

  /** What tokenizer.json's post-processor adds around a sequence: BOS in front, EOS at the end. */
  private probePostProcessor(): { bos: boolean; eos: boolean } {
    const plain = this.impl.encode("a", { add_special_tokens: false }).ids;
    const full = this.impl.encode("a", { add_special_tokens: true }).ids;
    const at = full.indexOf(plain[0] ?? -1);
    const before = at < 0 ? [] : full.slice(0, at);
    const after = at < 0 ? [] : full.slice(at + plain.length);
    return {
      bos: this.bos !== null && before.includes(this.bos.id),
      eos: this.eos !== null && after.includes(this.eos.id),
    };
  }
}

/** Largest token id accepted (16.7M; the largest vocabularies have ~262k tokens). */
export const MAX_TOKEN_ID = (1 << 24) - 1;

function createImpl(tokenizer: unknown, config: Json, path: string): { impl: HfTokenizer; maxId: number } {
  if (tokenizer === null || typeof tokenizer !== "object" || Array.isArray(tokenizer)) {
    throw new LoratuneError("ERR_TOKENIZER", `${path}: expected a JSON object`);
  }
  const t = tokenizer as Json;
  if (t.model === null || typeof t.model !== "object" || Array.isArray(t.model)) {
    throw new LoratuneError("ERR_TOKENIZER", `${path}: missing "model"`);
  }
  const maxId = maxTokenId(t, path);
  // The library requires these keys to exist (null is allowed); older files sometimes omit them.
  const full = {
    ...t,
    added_tokens: t.added_tokens ?? [],
    normalizer: t.normalizer ?? null,
    pre_tokenizer: t.pre_tokenizer ?? null,
    post_processor: t.post_processor ?? null,
    decoder: t.decoder ?? null,
  };
  try {
    return { impl: new HfTokenizer(full, config), maxId };
  } catch (err) {
    throw new LoratuneError("ERR_TOKENIZER", `${path}: unsupported or invalid tokenizer (${(err as Error).message})`, {
      cause: err,
    });
  }
}

function isTokenId(v: unknown): v is number {
  return typeof v === "number" && Number.isInteger(v) && v >= 0 && v <= MAX_TOKEN_ID;
}

/**
 * The largest token id of tokenizer.json (model vocabulary and added tokens), checking that every id is an
 * integer in [0, MAX_TOKEN_ID]. The library stores tokens in an array indexed by id, so an id of 10^9 would make
 * every walk over the vocabulary take minutes; ids are therefore checked here, before the library sees them.
 */
function maxTokenId(t: Json, path: string): number {
  const bad = (what: string) => new LoratuneError("ERR_TOKENIZER", `${path}: ${what}`);
  const range = `an integer in [0, ${MAX_TOKEN_ID}]`;
  let max = -1;
  const vocab = (t.model as Json).vocab;
  if (Array.isArray(vocab)) {
    // Unigram: [[piece, score], ...]; a piece's id is its position.
    vocab.forEach((e, i) => {
      if (!Array.isArray(e) || typeof e[0] !== "string" || typeof e[1] !== "number") {
        throw bad(`model.vocab[${i}] must be [piece, score] (got ${previewJson(e)})`);
      }
    });
    max = vocab.length - 1;
  } else if (vocab !== null && typeof vocab === "object") {
    for (const [token, id] of Object.entries(vocab)) {
      if (!isTokenId(id))
        throw bad(`model.vocab[${previewJson(token)}] is ${previewJson(id)}, not a token id (${range})`);
      if (id > max) max = id;
    }
  } else if (vocab !== undefined) {
    throw bad(`model.vocab must be an object or a list (got ${previewJson(vocab)})`);
  }
  const added = t.added_tokens ?? [];
  if (!Array.isArray(added)) throw bad(`added_tokens must be a list (got ${previewJson(added)})`);
  added.forEach((a: unknown, i) => {
    const e = a as Json | null;
    if (e === null || typeof e !== "object" || typeof e.content !== "string" || !isTokenId(e.id)) {
      throw bad(`added_tokens[${i}] must be {"id": ${range}, "content": string, …} (got ${previewJson(a)})`);
    }
    if (e.id > max) max = e.id;
  });
  return max;
}

/** Runs a library call, turning anything it throws into ERR_TOKENIZER naming the tokenizer file. */
function guard<T>(file: string, what: string, fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    if (err instanceof LoratuneError) throw err;
    throw new LoratuneError("ERR_TOKENIZER", `${file}: ${what} failed (${(err as Error).message})`, {
      cause: err,
    });
  }
}

/** A special-token value is a string, an AddedToken object {"content": …}, or null. */
function tokenText(v: unknown): string | null {
  if (typeof v === "string") return v;
  if (v !== null && typeof v === "object" && typeof (v as Json).content === "string")
    return (v as Json).content as string;
  return null;
}

function stopIds(eos: SpecialToken | null, genEos: unknown): number[] {
  const ids: number[] = eos ? [eos.id] : [];
  const extra = Array.isArray(genEos) ? genEos : [genEos];
  for (const id of extra) if (typeof id === "number" && Number.isInteger(id) && !ids.includes(id)) ids.push(id);
  return ids;
}
