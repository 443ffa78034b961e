/**
 * Tiny tokenizers for tests, trained in memory with src/tokenizer/train-bpe.ts: a byte-level one with ChatML
 * specials (Qwen-like) and SentencePiece-style ones with byte fallback (Llama-2 / Mistral-like), plus the
 * chat templates they ship with and helpers to read loss masks.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Example } from "../../src/data/encode.ts";
import { buildSentencePieceBpe, trainByteLevelBpe } from "../../src/demo/train-bpe.ts";
import { Tokenizer } from "../../src/tokenizer/tokenizer.ts";

export const CORPUS: string[] = [
  "Hello world! Hello there, world. The quick brown fox jumps over the lazy dog.",
  "What is two plus two? Two plus two is four. What is the capital of France? Paris.",
  "The user asks a question and the assistant answers the question with a short answer.",
  "hello hello world world there there the the the answer answer question question",
  "Numbers: 1 2 3 10 20 30 100 2024. Symbols: ( ) [ ] { } < > / \\ | # @ ! ? : ; , .",
  "Instruction: write a poem. Response: Roses are red, violets are blue.",
];

/** Qwen2-style ChatML template (system, user, assistant; generation prompt opens an assistant turn). */
export const CHATML_TEMPLATE =
  "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}" +
  "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

/** The Llama-2-chat template as shipped in meta-llama/Llama-2-7b-chat-hf's tokenizer_config.json. */
export const LLAMA2_TEMPLATE =
  "{% if messages[0]['role'] == 'system' %}{% set loop_messages = messages[1:] %}{% set system_message = messages[0]['content'] %}" +
  "{% else %}{% set loop_messages = messages %}{% set system_message = false %}{% endif %}" +
  "{% for message in loop_messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}" +
  "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}" +
  "{% if loop.index0 == 0 and system_message != false %}" +
  "{% set content = '<<SYS>>\\n' + system_message + '\\n<</SYS>>\\n\\n' + message['content'] %}" +
  "{% else %}{% set content = message['content'] %}{% endif %}" +
  "{% if message['role'] == 'user' %}{{ bos_token + '[INST] ' + content.strip() + ' [/INST]' }}" +
  "{% elif message['role'] == 'assistant' %}{{ ' '  + content.strip() + ' ' + eos_token }}{% endif %}{% endfor %}";

let byteLevelJson: ReturnType<typeof trainByteLevelBpe> | null = null;
let spJson: ReturnType<typeof buildSentencePieceBpe> | null = null;
let metaspaceJson: ReturnType<typeof buildSentencePieceBpe> | null = null;

export function byteLevelTokenizerJson() {
  byteLevelJson ??= trainByteLevelBpe(CORPUS, {
    vocabSize: 400,
    specialTokens: ["<|endoftext|>", "<|im_start|>", "<|im_end|>"],
  });
  return byteLevelJson;
}

export function spTokenizerJson(prepend: "normalizer" | "metaspace" = "normalizer") {
  if (prepend === "metaspace") {
    metaspaceJson ??= buildSentencePieceBpe(CORPUS, { vocabSize: 500, prepend: "metaspace" });
    return metaspaceJson;
  }
  spJson ??= buildSentencePieceBpe(CORPUS, { vocabSize: 500 });
  return spJson;
}

/** Byte-level tokenizer with a ChatML template; EOS = <|im_end|>, PAD = <|endoftext|>, no BOS (as Qwen2-Instruct). */
export function chatmlTokenizer(config: Record<string, unknown> = {}): Tokenizer {
  return new Tokenizer({
    origin: "mem:chatml",
    tokenizer: byteLevelTokenizerJson(),
    config: {
      bos_token: null,
      eos_token: "<|im_end|>",
      pad_token: "<|endoftext|>",
      chat_template: CHATML_TEMPLATE,
      ...config,
    },
  });
}

/** Byte-level base-model tokenizer: EOS = <|endoftext|>, no template. */
export function gpt2Tokenizer(): Tokenizer {
  return new Tokenizer({
    origin: "mem:gpt2",
    tokenizer: byteLevelTokenizerJson(),
    config: { eos_token: "<|endoftext|>" },
  });
}

/** SentencePiece-style tokenizer with the Llama-2 config: add_bos_token true, <s>/</s>/<unk>, no pad. */
export function llama2Tokenizer(
  config: Record<string, unknown> = {},
  prepend: "normalizer" | "metaspace" = "normalizer",
) {
  return new Tokenizer({
    origin: "mem:llama2",
    tokenizer: spTokenizerJson(prepend),
    config: {
      add_bos_token: true,
      add_eos_token: false,
      bos_token: "<s>",
      eos_token: "</s>",
      unk_token: "<unk>",
      pad_token: null,
      chat_template: LLAMA2_TEMPLATE,
      ...config,
    },
  });
}

/**
 * The loss mask of an example as runs of token strings: [["masked", "<s>▁[INST]…"], ["LOSS", "▁Hi</s>"], …].
 * Together the runs cover every token, so comparing them checks the mask token by token.
 */
export function maskRuns(ex: Example, tok: Tokenizer): [string, string][] {
  const runs: [string, string][] = [];
  for (let t = 0; t < ex.ids.length; t++) {
    const kind = t > 0 && ex.labels[t] !== -100 ? "LOSS" : "masked";
    const s = tok.idToToken(ex.ids[t] as number) ?? "?";
    const last = runs[runs.length - 1];
    if (last && last[0] === kind) last[1] += s;
    else runs.push([kind, s]);
  }
  return runs;
}

/** Same as maskRuns but with decoded text per run (byte-level tokens are unreadable as strings). */
export function maskTextRuns(ex: Example, tok: Tokenizer): [string, string][] {
  const runs: [string, number[]][] = [];
  for (let t = 0; t < ex.ids.length; t++) {
    const kind = t > 0 && ex.labels[t] !== -100 ? "LOSS" : "masked";
    const last = runs[runs.length - 1];
    if (last && last[0] === kind) last[1].push(ex.ids[t] as number);
    else runs.push([kind, [ex.ids[t] as number]]);
  }
  return runs.map(([k, ids]) => [k, tok.decode(ids)]);
}

/** A temp directory, removed by the returned cleanup function. */
export function tempDir(prefix = "lt-tok-"): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Write lines (strings, or raw bytes) as a JSONL file and return its path. */
export function writeJsonl(dir: string, name: string, lines: (string | object | Uint8Array)[], eol = "\n"): string {
  const parts: Buffer[] = [];
  for (const l of lines) {
    if (l instanceof Uint8Array) parts.push(Buffer.from(l));
    else parts.push(Buffer.from(typeof l === "string" ? l : JSON.stringify(l)));
    parts.push(Buffer.from(eol));
  }
  const path = join(dir, name);
  writeFileSync(path, Buffer.concat(parts));
  return path;
}
