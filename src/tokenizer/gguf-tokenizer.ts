/**
 * The tokenizer of a GGUF file, read from its tokenizer.ggml.* metadata: the reverse of gguf-vocab.ts, so that a
 * model from Ollama, LM Studio or llama.cpp's converter trains with the tokens llama.cpp gives it. The metadata
 * becomes the tokenizer.json and tokenizer_config.json a Hugging Face converter would have written:
 *  - model "gpt2": byte-level BPE; vocabulary = tokenizer.ggml.tokens (id = position), merges =
 *    tokenizer.ggml.merges, the split rules named by tokenizer.ggml.pre (gguf-pre.ts), a ByteLevel decoder;
 *  - model "llama": SentencePiece-style BPE with byte fallback (<0xXX> tokens), merges derived from the scores as
 *    transformers' converter derives them (spm-merges.ts), "▁" for spaces and one prepended before each piece of
 *    text when tokenizer.ggml.add_space_prefix (default true), and the decoder that undoes it.
 * Token types: CONTROL and UNKNOWN tokens become special added tokens, USER_DEFINED ones non-special added tokens
 * (all matched in the raw text, as llama.cpp matches them); NORMAL, BYTE and UNUSED ones are vocabulary rows.
 * BOS/EOS/UNK/PAD come from tokenizer.ggml.*_token_id, with llama.cpp's defaults for "llama" (1, 2, 0) and none
 * for "gpt2" (llama.cpp's default there, 11, is Falcon's and would be a wrong guess elsewhere); generation stops at
 * EOS, EOT and EOM. The add-BOS/EOS flags default as llama.cpp's do: BOS for "llama" and for Llama 3's split rules.
 */
import { LoratuneError } from "../errors.ts";
import type { GgufMetadata, GgufValue } from "../gguf/metadata.ts";
import { readGgufHeader } from "../gguf/reader.ts";
import { previewJson } from "../io/preview.ts";
import { tokenizerOptions } from "./chat-template-file.ts";
import { byteLevelRules, GGUF_PRE_NAMES } from "./gguf-pre.ts";
import { spmMerges } from "./spm-merges.ts";
import { type LoadTokenizerOptions, Tokenizer, type TokenizerSources } from "./tokenizer.ts";

type Json = Record<string, unknown>;

/** llama.cpp's token types (llama_token_type) that become added tokens. */
const UNKNOWN = 2;
const CONTROL = 3;
const USER_DEFINED = 4;

/** The tokenizer of the GGUF file at `path`. */
export function loadGgufTokenizer(path: string, opts: LoadTokenizerOptions = {}): Tokenizer {
  return tokenizerFromGguf(readGgufHeader(path).metadata, path, opts);
}

/** The tokenizer described by GGUF `metadata`; `origin` (the .gguf path) names the file in errors. */
export function tokenizerFromGguf(metadata: GgufMetadata, origin: string, opts: LoadTokenizerOptions = {}): Tokenizer {
  return new Tokenizer(ggufTokenizerSources(metadata, origin), tokenizerOptions(opts));
}

/** The tokenizer.json and tokenizer_config.json equivalent to GGUF `metadata` (see the file comment). */
export function ggufTokenizerSources(metadata: GgufMetadata, origin: string): TokenizerSources {
  const read = new MetaReader(metadata, origin);
  const model = read.string("tokenizer.ggml.model");
  if (model === undefined) {
    throw new LoratuneError("ERR_TOKENIZER", `${origin}: the file has no tokenizer (no tokenizer.ggml.model)`);
  }
  if (model !== "gpt2" && model !== "llama") {
    throw new LoratuneError(
      "ERR_UNSUPPORTED",
      `${origin}: tokenizer.ggml.model ${previewJson(model)} is not supported; loratune reads "gpt2" (byte-level ` +
        'BPE) and "llama" (SentencePiece-style BPE) tokenizers',
    );
  }
  const tokens = vocabulary(read);
  const types = read.integers("tokenizer.ggml.token_type", tokens.length);
  const body = model === "gpt2" ? byteLevelBody(read, tokens) : sentencePieceBody(read, tokens);
  const ids = specialIds(read, model, tokens.length);
  const tokenizer: Json = {
    version: "1.0",
    truncation: null,
    padding: null,
    added_tokens: addedTokens(tokens, types),
    ...body.json,
  };
  if (model === "llama" && ids.unk !== null) (tokenizer.model as Json).unk_token = tokens[ids.unk];
  return {
    origin,
    tokenizer,
    config: tokenizerConfig(read, tokens, ids, body.addBos),
    generationConfig: ids.eos === null ? null : { eos_token_id: stopIds(ids) },
    tokenizerFile: `${origin} (tokenizer.ggml.*)`,
    configFile: `${origin} (tokenizer.chat_template)`,
  };
}

/** Typed reads of metadata values; a value of the wrong type is an error naming the file and key. */
class MetaReader {
  constructor(
    readonly meta: GgufMetadata,
    readonly origin: string,
  ) {}

  fail(key: string, what: string): LoratuneError {
    return new LoratuneError("ERR_TOKENIZER", `${this.origin}: ${key} ${what}`);
  }

  value(key: string): GgufValue | undefined {
    return this.meta.get(key);
  }

  string(key: string): string | undefined {
    const v = this.value(key);
    if (v === undefined) return undefined;
    if (v.type !== "string") throw this.fail(key, `must be a string (it is ${describe(v)})`);
    return v.value as string;
  }

  bool(key: string): boolean | undefined {
    const v = this.value(key);
    if (v === undefined) return undefined;
    if (v.type !== "bool") throw this.fail(key, `must be a bool (it is ${describe(v)})`);
    return v.value as boolean;
  }

  /** A non-negative integer scalar (any integer type), or undefined. */
  id(key: string): number | undefined {
    const v = this.value(key);
    if (v === undefined) return undefined;
    const n = v.type === "array" ? undefined : toNumber(v.value);
    if (n === undefined || !Number.isInteger(n) || n < 0)
      throw this.fail(key, `must be a token id (it is ${describe(v)})`);
    return n;
  }

  strings(key: string): string[] | undefined {
    const v = this.value(key);
    if (v === undefined) return undefined;
    if (v.type !== "array" || v.of !== "string")
      throw this.fail(key, `must be an array of strings (it is ${describe(v)})`);
    return v.value as string[];
  }

  /** A numeric array of `length` numbers (integers when `integer`), or undefined. */
  numbers(key: string, length: number, integer = false): number[] | undefined {
    const v = this.value(key);
    if (v === undefined) return undefined;
    const nums = v.type === "array" ? v.value.map(toNumber) : [];
    const ok = nums.every((n) => n !== undefined && (integer ? Number.isInteger(n) : !Number.isNaN(n)));
    if (v.type !== "array" || !ok) {
      throw this.fail(key, `must be an array of ${integer ? "integers" : "numbers"} (it is ${describe(v)})`);
    }
    if (nums.length !== length) {
      throw this.fail(key, `has ${nums.length} entries but tokenizer.ggml.tokens has ${length}`);
    }
    return nums as number[];
  }

  integers(key: string, length: number): number[] | undefined {
    return this.numbers(key, length, true);
  }
}

function toNumber(v: unknown): number | undefined {
  if (typeof v === "number") return v;
  if (typeof v === "bigint") return Number(v);
  return undefined;
}

function describe(v: GgufValue): string {
  return v.type === "array" ? `an array of ${v.of}` : `a ${v.type}, ${previewJson(String(v.value))}`;
}

/**
 * tokenizer.ggml.tokens with llama.cpp's repair of empty tokens ("[EMPTY_<id>]"); a token twice is refused, as
 * llama.cpp refuses it (its text would stand for two ids).
 */
function vocabulary(read: MetaReader): string[] {
  const raw = read.strings("tokenizer.ggml.tokens");
  if (raw === undefined || raw.length === 0) throw read.fail("tokenizer.ggml.tokens", "is missing or empty");
  const tokens = raw.map((t, i) => (t === "" ? `[EMPTY_${i}]` : t));
  const seen = new Map<string, number>();
  tokens.forEach((t, id) => {
    const first = seen.get(t);
    if (first !== undefined) {
      throw read.fail("tokenizer.ggml.tokens", `holds ${previewJson(t)} twice (ids ${first} and ${id})`);
    }
    seen.set(t, id);
  });
  return tokens;
}

/** Control, unknown and user-defined tokens, matched in the raw text before anything else. */
function addedTokens(tokens: string[], types: number[] | undefined): Json[] {
  const out: Json[] = [];
  types?.forEach((type, id) => {
    if (type !== CONTROL && type !== UNKNOWN && type !== USER_DEFINED) return;
    out.push({
      id,
      content: tokens[id],
      single_word: false,
      lstrip: false,
      rstrip: false,
      normalized: false,
      special: type !== USER_DEFINED,
    });
  });
  return out;
}

interface Body {
  /** normalizer, pre_tokenizer, post_processor, decoder and model of tokenizer.json. */
  json: Json;
  /** llama.cpp's add-BOS default for this kind of tokenizer. */
  addBos: boolean;
}

const vocabObject = (tokens: string[]): Record<string, number> => Object.fromEntries(tokens.map((t, id) => [t, id]));

/** Byte-level BPE ("gpt2"): the split rules of tokenizer.ggml.pre, the merges as stored. */
function byteLevelBody(read: MetaReader, tokens: string[]): Body {
  // A file without the key was written before llama.cpp named pre-tokenizers; llama.cpp runs it as "default".
  const pre = read.string("tokenizer.ggml.pre") ?? "default";
  const rules = byteLevelRules(pre);
  if (rules === undefined) {
    throw new LoratuneError(
      "ERR_UNSUPPORTED",
      `${read.origin}: tokenizer.ggml.pre ${previewJson(pre)} names split rules loratune does not know ` +
        `(it knows ${GGUF_PRE_NAMES.join(", ")}); its tokens would differ from llama.cpp's`,
    );
  }
  const merges = read.strings("tokenizer.ggml.merges");
  if (merges === undefined) throw read.fail("tokenizer.ggml.merges", 'is missing (a "gpt2" tokenizer needs merges)');
  return {
    json: {
      normalizer: null,
      pre_tokenizer: rules.preTokenizer,
      post_processor: null,
      decoder: { type: "ByteLevel", add_prefix_space: false, trim_offsets: true, use_regex: true },
      model: {
        type: "BPE",
        dropout: null,
        unk_token: null,
        continuing_subword_prefix: "",
        end_of_word_suffix: "",
        fuse_unk: false,
        byte_fallback: false,
        ignore_merges: rules.ignoreMerges,
        vocab: vocabObject(tokens),
        merges: mergePairs(merges),
      },
    },
    addBos: rules.addBos,
  };
}

/**
 * "left right" strings as [left, right], split at the first space after the first character (so a left piece may
 * be a space), as llama.cpp splits them. One without such a space is skipped: llama.cpp stores it as a pair of
 * empty strings, which never matches.
 */
function mergePairs(merges: string[]): [string, string][] {
  const pairs: [string, string][] = [];
  for (const m of merges) {
    const at = m.indexOf(" ", 1);
    if (at >= 0) pairs.push([m.slice(0, at), m.slice(at + 1)]);
  }
  return pairs;
}

/** SentencePiece-style BPE ("llama"): merges from the scores, byte fallback, "▁" for spaces. */
function sentencePieceBody(read: MetaReader, tokens: string[]): Body {
  const scores = read.numbers("tokenizer.ggml.scores", tokens.length) ?? tokens.map(() => 0);
  const addSpacePrefix = read.bool("tokenizer.ggml.add_space_prefix") ?? true;
  const toMeta = { type: "Replace", pattern: { String: " " }, content: "▁" };
  return {
    json: {
      normalizer: {
        type: "Sequence",
        normalizers: addSpacePrefix ? [{ type: "Prepend", prepend: "▁" }, toMeta] : [toMeta],
      },
      pre_tokenizer: null,
      post_processor: null,
      decoder: sentencePieceDecoder(addSpacePrefix),
      model: {
        type: "BPE",
        dropout: null,
        unk_token: null,
        continuing_subword_prefix: null,
        end_of_word_suffix: null,
        fuse_unk: true,
        byte_fallback: true,
        ignore_merges: false,
        vocab: vocabObject(tokens),
        merges: spmMerges(tokens, scores),
      },
    },
    addBos: true,
  };
}

interface SpecialIds {
  bos: number | null;
  eos: number | null;
  unk: number | null;
  pad: number | null;
  eot: number | null;
  eom: number | null;
}

/**
 * The special ids. As llama.cpp does, an id outside the vocabulary is ignored in favour of the default: 1, 2 and 0
 * for BOS, EOS and UNK of a "llama" tokenizer, none otherwise.
 */
function specialIds(read: MetaReader, model: "gpt2" | "llama", n: number): SpecialIds {
  const spm = model === "llama";
  const get = (name: string, fallback: number | null): number | null => {
    const id = read.id(`tokenizer.ggml.${name}_token_id`);
    if (id !== undefined && id < n) return id;
    return fallback !== null && fallback < n ? fallback : null;
  };
  return {
    bos: get("bos", spm ? 1 : null),
    eos: get("eos", spm ? 2 : null),
    unk: get("unknown", spm ? 0 : null),
    pad: get("padding", null),
    eot: get("eot", null),
    eom: get("eom", null),
  };
}

/** EOS, then EOT and EOM when the file names them. */
function stopIds(ids: SpecialIds): number[] {
  const out: number[] = [];
  for (const id of [ids.eos, ids.eot, ids.eom]) if (id !== null && !out.includes(id)) out.push(id);
  return out;
}

/** The tokenizer_config.json equivalent: special-token texts, add-BOS/EOS flags and the chat template(s). */
function tokenizerConfig(read: MetaReader, tokens: string[], ids: SpecialIds, addBosDefault: boolean): Json {
  const config: Json = {};
  const text = (id: number | null) => (id === null ? undefined : tokens[id]);
  for (const [key, id] of [
    ["bos_token", ids.bos],
    ["eos_token", ids.eos],
    ["unk_token", ids.unk],
    ["pad_token", ids.pad],
  ] as const) {
    if (id !== null) config[key] = text(id);
  }
  config.add_bos_token = read.bool("tokenizer.ggml.add_bos_token") ?? addBosDefault;
  config.add_eos_token = read.bool("tokenizer.ggml.add_eos_token") ?? false;
  const template = chatTemplates(read);
  if (template !== undefined) config.chat_template = template;
  return config;
}

/**
 * tokenizer.chat_template, plus the named templates llama.cpp's converter stores as tokenizer.chat_template.<name>
 * (then given as tokenizer_config.json's list of {name, template}, the unnamed one as "default").
 */
function chatTemplates(read: MetaReader): string | { name: string; template: string }[] | undefined {
  const main = read.string("tokenizer.chat_template");
  const prefix = "tokenizer.chat_template.";
  const named = [...read.meta.keys()]
    .filter((k) => k.startsWith(prefix) && k.length > prefix.length)
    .map((k) => ({ name: k.slice(prefix.length), template: read.string(k) as string }));
  if (named.length === 0) return main;
  return main === undefined ? named : [{ name: "default", template: main }, ...named];
}

/**
 * The tokenizer.json decoder of a SentencePiece-style BPE: "▁" back to a space, <0xXX> pieces back to bytes, and
 * (when encoding prepends "▁") the one leading space stripped.
 */
export function sentencePieceDecoder(stripPrefixSpace: boolean): Record<string, unknown> {
  return {
    type: "Sequence",
    decoders: [
      { type: "Replace", pattern: { String: "▁" }, content: " " },
      { type: "ByteFallback" },
      { type: "Fuse" },
      ...(stripPrefixSpace ? [{ type: "Strip", content: " ", start: 1, stop: 0 }] : []),
    ],
  };
}
