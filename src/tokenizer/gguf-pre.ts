/**
 * How llama.cpp splits text before byte-level BPE, by the name a GGUF file gives in `tokenizer.ggml.pre`, written
 * as the tokenizer.json pre-tokenizer that splits the same way. llama.cpp applies a list of regexes one after the
 * other, each cutting every piece into its matches and the text between them (Hugging Face's Split with behavior
 * "Isolated"), then maps the bytes of each piece to the byte-level alphabet (ByteLevel without its own regex).
 *
 * Only names whose rules are known exactly are here. llama.cpp itself runs an unknown name with its "default"
 * rules and a warning; loratune refuses it instead, since a wrong split trains on different tokens.
 */
import { SPLIT_PATTERNS } from "./gguf-vocab.ts";

type Json = Record<string, unknown>;

/** What a pre-tokenizer name means for the tokenizer built from a GGUF file. */
export interface ByteLevelRules {
  /** The tokenizer.json pre_tokenizer. */
  preTokenizer: Json;
  /** A piece that is itself a token is taken whole, before any merge (llama.cpp's ignore_merges, Llama 3's BPE). */
  ignoreMerges: boolean;
  /** llama.cpp adds BOS for this name unless tokenizer.ggml.add_bos_token says otherwise. */
  addBos: boolean;
}

/** GPT-2's regex: what ByteLevel with use_regex splits by. */
const GPT2_REGEX = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";

const split = (regex: string): Json => ({
  type: "Split",
  pattern: { Regex: regex },
  behavior: "Isolated",
  invert: false,
});
const byteLevel = (useRegex: boolean): Json => ({
  type: "ByteLevel",
  add_prefix_space: false,
  trim_offsets: true,
  use_regex: useRegex,
});
const sequence = (...steps: Json[]): Json => ({ type: "Sequence", pretokenizers: steps });

/** GPT-2's regex alone. */
const GPT2: ByteLevelRules = { preTokenizer: byteLevel(true), ignoreMerges: false, addBos: false };
/** Llama 3's regex (numbers in runs of up to three digits). */
const LLAMA3_SPLIT = sequence(split(SPLIT_PATTERNS["llama-bpe"] as string), byteLevel(false));
/** Qwen 2's regex (single digits). */
const QWEN2: ByteLevelRules = {
  preTokenizer: sequence(split(SPLIT_PATTERNS.qwen2 as string), byteLevel(false)),
  ignoreMerges: false,
  addBos: false,
};
/**
 * Every digit alone, then GPT-2's regex (SmolLM, StarCoder). Hugging Face's files say Digits(individual_digits),
 * which splits off every Unicode number character (Rust's char::is_numeric) as llama.cpp's \p{N} does; the
 * JavaScript library's Digits only knows ASCII digits, so the split is written as the regex.
 */
const DIGITS_GPT2: ByteLevelRules = {
  preTokenizer: sequence(split("\\p{N}"), byteLevel(true)),
  ignoreMerges: false,
  addBos: false,
};
/**
 * llama.cpp's "default" rules (and a file without tokenizer.ggml.pre, written by a converter too old to name its
 * pre-tokenizer): punctuation runs, then GPT-2's regex, then digit runs, then groups of three ASCII digits.
 */
const DEFAULT: ByteLevelRules = {
  preTokenizer: sequence(
    split("[\\p{P}\\$\\+<=>\\^~\\|]+"),
    split(GPT2_REGEX),
    split("\\p{N}+"),
    split("[0-9][0-9][0-9]"),
    byteLevel(false),
  ),
  ignoreMerges: false,
  addBos: false,
};

/** Pre-tokenizer names, grouped as llama.cpp groups them (src/llama-vocab.cpp). */
const RULES: [string[], ByteLevelRules][] = [
  [["default"], DEFAULT],
  [
    ["gpt-2", "phi-2", "jina-es", "jina-de", "gigachat", "jina-v2-es", "jina-v2-de", "mpt", "olmo", "jais", "exaone4"],
    GPT2,
  ],
  [
    ["llama3", "llama-v3", "llama-bpe", "falcon3", "falcon-h1", "pixtral", "midm-2.0", "lfm2"],
    { preTokenizer: LLAMA3_SPLIT, ignoreMerges: true, addBos: true },
  ],
  [["dbrx", "smaug-bpe"], { preTokenizer: LLAMA3_SPLIT, ignoreMerges: false, addBos: false }],
  [["qwen2", "deepseek-r1-qwen", "megrez", "stablelm2"], QWEN2],
  [["smollm", "starcoder", "refact", "command-r", "codeshell", "exaone", "minerva-7b"], DIGITS_GPT2],
];

const BY_NAME = new Map<string, ByteLevelRules>(RULES.flatMap(([names, rules]) => names.map((n) => [n, rules])));

/** The pre-tokenizer names loratune reads, in the order above. */
export const GGUF_PRE_NAMES: readonly string[] = RULES.flatMap(([names]) => names);

/** The rules of pre-tokenizer `name`, or undefined when loratune does not know them. */
export function byteLevelRules(name: string): ByteLevelRules | undefined {
  return BY_NAME.get(name);
}
