/**
 * A tokenizer as llama.cpp reads it from GGUF metadata (tokenizer.ggml.*), for the two kinds of tokenizer.json
 * loratune reads:
 *  - byte-level BPE (GPT-2, Llama 3, Qwen, SmolLM): model "gpt2", the vocabulary in its byte-level spelling, the
 *    merges, and the pre-tokenizer by the name llama.cpp knows its split rules under (tokenizer.ggml.pre);
 *  - SentencePiece-style BPE with byte fallback (Llama 2, TinyLlama, Mistral): model "llama", pieces with "▁",
 *    `<0xXX>` byte tokens, and scores that make llama.cpp's merge order (highest score first) the BPE merge order.
 * Special tokens (control tokens), BOS/EOS/UNK/padding ids, the add-BOS/EOS flags and the chat template come
 * from the loaded Tokenizer. Rows of the embedding beyond the tokenizer's ids become unused "[PAD<id>]" tokens,
 * as llama.cpp's converter writes them. A tokenizer whose split rules llama.cpp does not know is refused by name.
 */
import { join } from "node:path";
import { LoratuneError } from "../errors.ts";
import { bool, f32s, type GgufValue, i32s, str, strings, u32 } from "../gguf/metadata.ts";
import { readJsonObject } from "../io/json-file.ts";
import { previewJson } from "../io/preview.ts";
import type { Tokenizer } from "./tokenizer.ts";

type Json = Record<string, unknown>;

/** llama.cpp's token types (llama_token_type). */
const NORMAL = 1;
const UNKNOWN = 2;
const CONTROL = 3;
const USER_DEFINED = 4;
const UNUSED = 5;
const BYTE = 6;

/** Split patterns of byte-level tokenizers, by the pre-tokenizer name llama.cpp uses for them. */
export const SPLIT_PATTERNS: Record<string, string> = {
  "llama-bpe":
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
  qwen2:
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
};

/** What the export found the tokenizer to be. */
export interface GgufVocab {
  metadata: [string, GgufValue][];
  /** tokenizer.ggml.model and tokenizer.ggml.pre. */
  model: "gpt2" | "llama";
  pre: string;
  /** Where llama.cpp's tokenizer is known to differ from tokenizer.json's (said to the user, one line each). */
  notes: string[];
}

const isObj = (v: unknown): v is Json => v !== null && typeof v === "object" && !Array.isArray(v);

/** The tokenizer of model directory `dir` (already loaded as `tok`) as GGUF metadata for `vocabSize` rows. */
export function ggufVocab(dir: string, tok: Tokenizer, vocabSize: number): GgufVocab {
  const path = join(dir, "tokenizer.json");
  const raw = readJsonObject(path, "ERR_TOKENIZER");
  const model = isObj(raw.model) ? raw.model : {};
  if (model.type !== "BPE" || !isObj(model.vocab)) {
    throw new LoratuneError(
      "ERR_UNSUPPORTED",
      `${path}: a ${previewJson(model.type)} tokenizer model cannot be exported for llama.cpp (BPE only)`,
    );
  }
  if (tok.vocabSize > vocabSize) {
    throw new LoratuneError(
      "ERR_TOKENIZER",
      `${path}: the tokenizer has ${tok.vocabSize} ids but the model's embedding only ${vocabSize} rows`,
    );
  }
  const byteLevel = hasByteLevel(raw.pre_tokenizer);
  const kind = byteLevel ? bytePieces(path, raw, model, tok, vocabSize) : spmPieces(path, raw, model, tok, vocabSize);
  const metadata: [string, GgufValue][] = [
    ["tokenizer.ggml.model", str(kind.model)],
    ["tokenizer.ggml.pre", str(kind.pre)],
    ["tokenizer.ggml.tokens", strings(kind.tokens)],
    ...(kind.scores ? [["tokenizer.ggml.scores", f32s(kind.scores)] as [string, GgufValue]] : []),
    ["tokenizer.ggml.token_type", i32s(kind.types)],
    ...(kind.merges ? [["tokenizer.ggml.merges", strings(kind.merges)] as [string, GgufValue]] : []),
    ...specialIds(tok),
    ...(kind.model === "llama" ? [["tokenizer.ggml.add_space_prefix", bool(true)] as [string, GgufValue]] : []),
    ...(tok.chatTemplate !== null ? [["tokenizer.chat_template", str(tok.chatTemplate)] as [string, GgufValue]] : []),
  ];
  return { metadata, model: kind.model, pre: kind.pre, notes: differences(raw) };
}

interface Pieces {
  model: "gpt2" | "llama";
  pre: string;
  tokens: string[];
  types: number[];
  scores?: number[];
  merges?: string[];
}

function hasByteLevel(pre: unknown): boolean {
  if (!isObj(pre)) return false;
  if (pre.type === "ByteLevel") return true;
  return pre.type === "Sequence" && Array.isArray(pre.pretokenizers) && pre.pretokenizers.some(hasByteLevel);
}

/**
 * The name llama.cpp gives a byte-level tokenizer's split rules: GPT-2's regex alone ("gpt-2"), Llama 3's or
 * Qwen 2's Split regex before a regex-free ByteLevel ("llama-bpe", "qwen2"), or single digits before GPT-2's
 * regex (SmolLM: "smollm").
 */
function byteLevelPre(path: string, pre: Json): string {
  if (pre.type === "ByteLevel" && pre.use_regex !== false) return "gpt-2";
  const steps = pre.type === "Sequence" && Array.isArray(pre.pretokenizers) ? (pre.pretokenizers as Json[]) : [];
  const [first, second] = steps;
  if (steps.length === 2 && isObj(first) && isObj(second) && second.type === "ByteLevel") {
    if (first.type === "Split" && second.use_regex === false && isObj(first.pattern)) {
      const regex = first.pattern.Regex;
      const name = Object.keys(SPLIT_PATTERNS).find((k) => SPLIT_PATTERNS[k] === regex);
      if (name !== undefined) return name;
    }
    if (first.type === "Digits" && first.individual_digits === true && second.use_regex !== false) return "smollm";
  }
  throw new LoratuneError(
    "ERR_UNSUPPORTED",
    `${path}: the pre-tokenizer ${previewJson(pre)} is not one llama.cpp knows (byte-level: GPT-2's regex, Llama 3's, ` +
      "Qwen 2's, or SmolLM's single digits); llama.cpp would split text differently",
  );
}

/** Token text by id for ids [0, vocabSize), "[PAD<id>]" where the tokenizer has none. */
function tokenTexts(tok: Tokenizer, vocabSize: number): { tokens: string[]; present: boolean[] } {
  const tokens: string[] = [];
  const present: boolean[] = [];
  for (let id = 0; id < vocabSize; id++) {
    const t = tok.addedTokenText(id) ?? tok.idToToken(id);
    tokens.push(t ?? `[PAD${id}]`);
    present.push(t !== undefined);
  }
  return { tokens, present };
}

function addedType(tok: Tokenizer, id: number): number | null {
  if (tok.addedTokenText(id) === undefined) return null;
  return tok.isSpecial(id) ? CONTROL : USER_DEFINED;
}

function bytePieces(path: string, raw: Json, model: Json, tok: Tokenizer, vocabSize: number): Pieces {
  const pre = byteLevelPre(path, raw.pre_tokenizer as Json);
  const { tokens, present } = tokenTexts(tok, vocabSize);
  const types = tokens.map((_, id) => (present[id] ? (addedType(tok, id) ?? NORMAL) : UNUSED));
  return { model: "gpt2", pre, tokens, types, merges: mergeStrings(path, model.merges) };
}

/** merges as "left right" strings (tokenizer.json has them so, or as [left, right] pairs). */
function mergeStrings(path: string, merges: unknown): string[] {
  if (!Array.isArray(merges)) throw new LoratuneError("ERR_TOKENIZER", `${path}: model.merges must be a list`);
  return merges.map((m, i) => {
    if (typeof m === "string") return m;
    if (Array.isArray(m) && m.length === 2 && typeof m[0] === "string" && typeof m[1] === "string") {
      return `${m[0]} ${m[1]}`;
    }
    throw new LoratuneError("ERR_TOKENIZER", `${path}: model.merges[${i}] is ${previewJson(m)}`);
  });
}

/** Whether the tokenizer writes spaces as "▁" with one prepended (Prepend normalizer or Metaspace). */
function isSentencePieceStyle(raw: Json, model: Json): boolean {
  const norm = raw.normalizer;
  const steps =
    isObj(norm) && Array.isArray(norm.normalizers) ? (norm.normalizers as Json[]) : isObj(norm) ? [norm] : [];
  const prepends = steps.some((n) => isObj(n) && n.type === "Prepend" && n.prepend === "▁");
  const metaspace = isObj(raw.pre_tokenizer) && raw.pre_tokenizer.type === "Metaspace";
  return model.byte_fallback === true && (prepends || metaspace);
}

/**
 * SentencePiece-style pieces. llama.cpp merges the adjacent pair whose joined piece has the highest score, so a
 * piece's score is minus the rank of the first merge that makes it (pieces no merge makes: below every merge).
 */
function spmPieces(path: string, raw: Json, model: Json, tok: Tokenizer, vocabSize: number): Pieces {
  if (!isSentencePieceStyle(raw, model)) {
    throw new LoratuneError(
      "ERR_UNSUPPORTED",
      `${path}: the tokenizer is neither byte-level BPE nor SentencePiece-style BPE with byte fallback ` +
        `(pre-tokenizer ${previewJson(raw.pre_tokenizer)}, normalizer ${previewJson(raw.normalizer)}); llama.cpp has no match for it`,
    );
  }
  const { tokens, present } = tokenTexts(tok, vocabSize);
  const rank = new Map<string, number>();
  mergeStrings(path, model.merges).forEach((m, i) => {
    const joined = m.replace(" ", "");
    if (!rank.has(joined)) rank.set(joined, i);
  });
  const unkId = tok.unk?.id ?? -1;
  const types = tokens.map((t, id) => {
    if (!present[id]) return UNUSED;
    if (id === unkId) return UNKNOWN;
    const added = addedType(tok, id);
    if (added !== null) return added;
    return /^<0x[0-9A-F]{2}>$/.test(t) ? BYTE : NORMAL;
  });
  const scores = tokens.map((t, id) => {
    const r = rank.get(t);
    return r !== undefined ? -r : types[id] === NORMAL && [...t].length > 1 ? -(rank.size + id) : 0;
  });
  return { model: "llama", pre: "default", tokens, types, scores };
}

/**
 * Known differences between llama.cpp's tokenizer and tokenizer.json's, for the user: llama.cpp applies no
 * normalizer, and its SentencePiece-style tokenizer puts "▁" before every text piece (after special tokens, and
 * before a text that already starts with a space), where a Metaspace pre-tokenizer does not.
 */
function differences(raw: Json): string[] {
  const notes: string[] = [];
  const norm = raw.normalizer;
  if (isObj(norm) && (norm.type === "NFC" || norm.type === "NFKC")) {
    notes.push(
      `tokenizer.json normalizes text to ${norm.type} and llama.cpp does not: text not already in ${norm.type} may tokenize differently`,
    );
  }
  const pre = raw.pre_tokenizer;
  if (isObj(pre) && pre.type === "Metaspace") {
    const scheme = typeof pre.prepend_scheme === "string" ? pre.prepend_scheme : "always";
    notes.push(
      `tokenizer.json's Metaspace (prepend_scheme "${scheme}") adds "▁" ${scheme === "first" ? "only at the start of the text" : "before each text piece"} and not before a leading space; ` +
        "llama.cpp adds it before every text piece, after special tokens too: such texts tokenize differently",
    );
  }
  return notes;
}

/**
 * BOS/EOS/UNK/padding ids and the add-BOS/EOS flags. A stop id besides EOS (generation_config.json's eos_token_id,
 * e.g. <|im_end|> or <|eot_id|>) is written as the end-of-turn token, the one slot GGUF has for it (a third stop
 * id has none).
 */
function specialIds(tok: Tokenizer): [string, GgufValue][] {
  const out: [string, GgufValue][] = [];
  if (tok.bos) out.push(["tokenizer.ggml.bos_token_id", u32(tok.bos.id)]);
  if (tok.eos) out.push(["tokenizer.ggml.eos_token_id", u32(tok.eos.id)]);
  const eot = tok.stopIds.find((id) => id !== tok.eos?.id);
  if (eot !== undefined) out.push(["tokenizer.ggml.eot_token_id", u32(eot)]);
  if (tok.unk) out.push(["tokenizer.ggml.unknown_token_id", u32(tok.unk.id)]);
  if (tok.pad) out.push(["tokenizer.ggml.padding_token_id", u32(tok.pad.id)]);
  out.push(["tokenizer.ggml.add_bos_token", bool(tok.addBos)], ["tokenizer.ggml.add_eos_token", bool(tok.addEos)]);
  return out;
}
