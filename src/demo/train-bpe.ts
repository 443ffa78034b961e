/**
 * A small, deterministic BPE trainer that writes Hugging Face `tokenizer.json` objects, in two styles:
 *
 *  - byte-level (GPT-2 / Llama-3 style): ByteLevel pre-tokenizer (GPT-2 regex) and decoder, a 256-symbol
 *    byte alphabet, so every string encodes without an unknown token;
 *  - SentencePiece-style BPE with byte fallback (Llama-2 / Mistral style): spaces become "▁", a "▁" is
 *    prepended (by a Prepend normalizer, or by a Metaspace pre-tokenizer with prepend_scheme "first"),
 *    `<unk>`=0 `<s>`=1 `</s>`=2, then `<0x00>`..`<0xFF>` byte tokens, characters seen, then merges;
 *    characters not in the vocabulary are encoded as their UTF-8 bytes (byte_fallback: true).
 *
 * Used by tests and by the bundled demo model. Merge selection: highest pair count, ties broken by the
 * lexicographically smallest (left, right) pair; the same corpus and options always give the same file.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { sentencePieceDecoder } from "../tokenizer/gguf-tokenizer.ts";

export interface AddedTokenJson {
  id: number;
  content: string;
  single_word: boolean;
  lstrip: boolean;
  rstrip: boolean;
  normalized: boolean;
  special: boolean;
}

/** The subset of the tokenizer.json format this module writes (a valid file for HF tokenizers). */
export interface TokenizerJson {
  version: string;
  truncation: null;
  padding: null;
  added_tokens: AddedTokenJson[];
  normalizer: Record<string, unknown> | null;
  pre_tokenizer: Record<string, unknown> | null;
  post_processor: Record<string, unknown> | null;
  decoder: Record<string, unknown> | null;
  model: {
    type: "BPE";
    dropout: null;
    unk_token: string | null;
    continuing_subword_prefix: string | null;
    end_of_word_suffix: string | null;
    fuse_unk: boolean;
    byte_fallback: boolean;
    ignore_merges: boolean;
    vocab: Record<string, number>;
    merges: string[];
  };
}

export interface BpeTrainOptions {
  /** Total vocabulary size including base symbols and special tokens (merges fill the rest). */
  vocabSize: number;
  /** Special tokens added after the merges, e.g. ["<|endoftext|>"] or ["<|im_start|>", "<|im_end|>"]. */
  specialTokens?: string[];
  /** A pair must occur at least this often to be merged (default 2). */
  minFrequency?: number;
}

export interface ByteLevelBpeOptions extends BpeTrainOptions {
  /** When set (one of specialTokens), a TemplateProcessing post-processor prepends it as BOS. */
  bosToken?: string;
}

export interface SentencePieceBpeOptions extends BpeTrainOptions {
  /** How the "▁" is prepended: Llama-2's Prepend normalizer (default) or Mistral's Metaspace pre-tokenizer. */
  prepend?: "normalizer" | "metaspace";
  /** Prepend <s> through a TemplateProcessing post-processor (default true, as Llama-2). */
  addBos?: boolean;
}

/** The GPT-2 pre-tokenization regex, as used by the ByteLevel pre-tokenizer with use_regex: true. */
const GPT2_SPLIT = /'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+/gu;

/**
 * GPT-2's byte -> printable character table: printable Latin-1 bytes map to themselves, the other 68
 * bytes map to U+0100.. in byte order. Index = byte value.
 */
export function byteLevelAlphabet(): string[] {
  const table = new Array<string>(256);
  let extra = 0;
  for (let b = 0; b < 256; b++) {
    const printable = (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
    table[b] = String.fromCharCode(printable ? b : 256 + extra++);
  }
  return table;
}

/** Train a GPT-2 style byte-level BPE tokenizer on `corpus` (documents). */
export function trainByteLevelBpe(corpus: Iterable<string>, opts: ByteLevelBpeOptions): TokenizerJson {
  const alphabet = byteLevelAlphabet();
  const specials = opts.specialTokens ?? [];
  if (opts.bosToken !== undefined && !specials.includes(opts.bosToken)) {
    throw new Error(`trainByteLevelBpe: bosToken ${opts.bosToken} must be one of specialTokens`);
  }
  const nMerges = opts.vocabSize - 256 - specials.length;
  if (nMerges < 0) throw new Error(`trainByteLevelBpe: vocabSize ${opts.vocabSize} < 256 bytes + specials`);

  const encoder = new TextEncoder();
  const words = new Map<string, number>();
  for (const doc of corpus) {
    for (const piece of doc.match(GPT2_SPLIT) ?? []) {
      const mapped = Array.from(encoder.encode(piece), (b) => alphabet[b] as string).join("");
      words.set(mapped, (words.get(mapped) ?? 0) + 1);
    }
  }
  const vocab: Record<string, number> = {};
  alphabet.forEach((ch, i) => {
    vocab[ch] = i;
  });
  const merges = learnMerges(words, nMerges, opts.minFrequency ?? 2);
  addMergedTokens(vocab, merges);
  const added = addedTokens(vocab, specials, false);
  const bos = opts.bosToken === undefined ? null : added.find((t) => t.content === opts.bosToken);
  const byteLevel = { type: "ByteLevel", add_prefix_space: false, trim_offsets: true, use_regex: true };
  return {
    version: "1.0",
    truncation: null,
    padding: null,
    added_tokens: added,
    normalizer: null,
    pre_tokenizer: byteLevel,
    post_processor: bos ? bosTemplate(bos.content, bos.id) : { ...byteLevel, trim_offsets: false },
    decoder: byteLevel,
    model: bpeModel(vocab, merges, null, false),
  };
}

/** Build a SentencePiece-style BPE tokenizer with byte fallback (Llama-2 / Mistral layout) from `corpus`. */
export function buildSentencePieceBpe(corpus: Iterable<string>, opts: SentencePieceBpeOptions): TokenizerJson {
  const extraSpecials = opts.specialTokens ?? [];
  const words = new Map<string, number>();
  const charCount = new Map<string, number>([["▁", 0]]);
  for (const doc of corpus) {
    const norm = `▁${doc.replaceAll(" ", "▁")}`;
    for (const w of norm.match(/▁[^▁]*/gu) ?? []) {
      words.set(w, (words.get(w) ?? 0) + 1);
      for (const ch of w) charCount.set(ch, (charCount.get(ch) ?? 0) + 1);
    }
  }
  const vocab: Record<string, number> = { "<unk>": 0, "<s>": 1, "</s>": 2 };
  for (let b = 0; b < 256; b++) vocab[`<0x${b.toString(16).toUpperCase().padStart(2, "0")}>`] = 3 + b;
  // Characters by falling frequency, then code point: the base alphabet.
  const chars = [...charCount.entries()].sort((a, b) => b[1] - a[1] || cmp(a[0], b[0])).map(([c]) => c);
  for (const ch of chars) vocab[ch] = Object.keys(vocab).length;
  const nMerges = opts.vocabSize - Object.keys(vocab).length - extraSpecials.length;
  if (nMerges < 0) {
    throw new Error(
      `buildSentencePieceBpe: vocabSize ${opts.vocabSize} cannot hold 259 base tokens + ${chars.length} chars`,
    );
  }
  const merges = learnMerges(words, nMerges, opts.minFrequency ?? 2);
  addMergedTokens(vocab, merges);
  const added = [...addedTokens(vocab, ["<unk>", "<s>", "</s>"], true), ...addedTokens(vocab, extraSpecials, false)];
  const metaspace = opts.prepend === "metaspace";
  return {
    version: "1.0",
    truncation: null,
    padding: null,
    added_tokens: added,
    normalizer: metaspace
      ? null
      : {
          type: "Sequence",
          normalizers: [
            { type: "Prepend", prepend: "▁" },
            { type: "Replace", pattern: { String: " " }, content: "▁" },
          ],
        },
    pre_tokenizer: metaspace ? { type: "Metaspace", replacement: "▁", prepend_scheme: "first", split: false } : null,
    post_processor: opts.addBos === false ? null : bosTemplate("<s>", 1),
    decoder: sentencePieceDecoder(true),
    model: bpeModel(vocab, merges, "<unk>", true),
  };
}

/**
 * Learn up to `maxMerges` merges from word counts. Each word starts as its characters (code points).
 * Pair counts are kept incrementally: a merge only re-counts the words that contain the merged pair.
 */
export function learnMerges(words: Map<string, number>, maxMerges: number, minFrequency: number): [string, string][] {
  const symbols: string[] = [];
  const symbolId = new Map<string, number>();
  const intern = (s: string): number => {
    let id = symbolId.get(s);
    if (id === undefined) {
      id = symbols.length;
      symbols.push(s);
      symbolId.set(s, id);
    }
    return id;
  };
  const seqs: number[][] = [];
  const counts: number[] = [];
  for (const [w, c] of words) {
    seqs.push(Array.from(w, intern));
    counts.push(c);
  }
  // Pair key = left * 2^21 + right (symbol ids stay far below 2^21 for any vocabulary we train).
  const KEY = 2097152;
  const pairCount = new Map<number, number>();
  const pairWords = new Map<number, Set<number>>();
  const addPairs = (wi: number, sign: number): void => {
    const s = seqs[wi] as number[];
    const c = (counts[wi] as number) * sign;
    for (let i = 0; i + 1 < s.length; i++) {
      const key = (s[i] as number) * KEY + (s[i + 1] as number);
      const n = (pairCount.get(key) ?? 0) + c;
      if (n === 0) pairCount.delete(key);
      else pairCount.set(key, n);
      if (sign > 0) {
        let set = pairWords.get(key);
        if (!set) {
          set = new Set();
          pairWords.set(key, set);
        }
        set.add(wi);
      }
    }
  };
  for (let wi = 0; wi < seqs.length; wi++) addPairs(wi, 1);

  const merges: [string, string][] = [];
  while (merges.length < maxMerges) {
    const best = bestPair(pairCount, symbols, KEY);
    if (best === null || (pairCount.get(best) ?? 0) < minFrequency) break;
    const left = Math.floor(best / KEY);
    const right = best % KEY;
    const merged = intern((symbols[left] as string) + (symbols[right] as string));
    merges.push([symbols[left] as string, symbols[right] as string]);
    for (const wi of [...(pairWords.get(best) ?? [])].sort((a, b) => a - b)) {
      addPairs(wi, -1);
      seqs[wi] = mergeSeq(seqs[wi] as number[], left, right, merged);
      addPairs(wi, 1);
    }
    pairWords.delete(best);
  }
  return merges;
}

/** The pair with the highest count; ties go to the lexicographically smallest (left, right) strings. */
function bestPair(pairCount: Map<number, number>, symbols: string[], KEY: number): number | null {
  let best: number | null = null;
  let bestCount = 0;
  for (const [key, n] of pairCount) {
    if (n > bestCount || (n === bestCount && best !== null && pairLess(key, best, symbols, KEY))) {
      best = key;
      bestCount = n;
    }
  }
  return best;
}

function pairLess(a: number, b: number, symbols: string[], KEY: number): boolean {
  const c = cmp(symbols[Math.floor(a / KEY)] as string, symbols[Math.floor(b / KEY)] as string);
  return c !== 0 ? c < 0 : cmp(symbols[a % KEY] as string, symbols[b % KEY] as string) < 0;
}

/** Replace every non-overlapping (left, right) occurrence, scanning left to right. */
function mergeSeq(s: number[], left: number, right: number, merged: number): number[] {
  const out: number[] = [];
  for (let i = 0; i < s.length; i++) {
    if (s[i] === left && s[i + 1] === right) {
      out.push(merged);
      i++;
    } else out.push(s[i] as number);
  }
  return out;
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function addMergedTokens(vocab: Record<string, number>, merges: [string, string][]): void {
  let next = Object.keys(vocab).length;
  for (const [a, b] of merges) {
    if (!(a + b in vocab)) vocab[a + b] = next++;
  }
}

/** Added-token entries; ids continue after the vocabulary unless the token is already in it. */
function addedTokens(vocab: Record<string, number>, tokens: string[], inVocab: boolean): AddedTokenJson[] {
  let next = Object.keys(vocab).length;
  return tokens.map((content) => {
    const id = inVocab ? (vocab[content] as number) : next++;
    return { id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true };
  });
}

function bosTemplate(bos: string, id: number): Record<string, unknown> {
  const tok = (type_id: number) => ({ SpecialToken: { id: bos, type_id } });
  const seq = (id: string, type_id: number) => ({ Sequence: { id, type_id } });
  return {
    type: "TemplateProcessing",
    single: [tok(0), seq("A", 0)],
    pair: [tok(0), seq("A", 0), tok(1), seq("B", 1)],
    special_tokens: { [bos]: { id: bos, ids: [id], tokens: [bos] } },
  };
}

function bpeModel(
  vocab: Record<string, number>,
  merges: [string, string][],
  unk: string | null,
  spStyle: boolean,
): TokenizerJson["model"] {
  return {
    type: "BPE",
    dropout: null,
    unk_token: unk,
    continuing_subword_prefix: spStyle ? null : "",
    end_of_word_suffix: spStyle ? null : "",
    fuse_unk: spStyle,
    byte_fallback: spStyle,
    ignore_merges: false,
    vocab,
    merges: merges.map(([a, b]) => `${a} ${b}`),
  };
}

/** Files of a Hugging Face tokenizer directory; each present entry is written as JSON (or text for the template). */
export interface TokenizerDirFiles {
  tokenizer: TokenizerJson | Record<string, unknown>;
  config?: Record<string, unknown>;
  generationConfig?: Record<string, unknown>;
  specialTokensMap?: Record<string, unknown>;
  /** Written as chat_template.jinja (the newer transformers layout). */
  chatTemplateJinja?: string;
}

/** Write tokenizer.json (+ tokenizer_config.json, generation_config.json, …) into `dir`, creating it. */
export function writeTokenizerDir(dir: string, files: TokenizerDirFiles): void {
  mkdirSync(dir, { recursive: true });
  const json = (name: string, v: unknown) => writeFileSync(join(dir, name), `${JSON.stringify(v, null, 2)}\n`);
  json("tokenizer.json", files.tokenizer);
  if (files.config) json("tokenizer_config.json", files.config);
  if (files.generationConfig) json("generation_config.json", files.generationConfig);
  if (files.specialTokensMap) json("special_tokens_map.json", files.specialTokensMap);
  if (files.chatTemplateJinja !== undefined) writeFileSync(join(dir, "chat_template.jinja"), files.chatTemplateJinja);
}
