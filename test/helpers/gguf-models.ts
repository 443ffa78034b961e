/**
 * Golden models with tokenizers, for the GGUF export tests. The golden models (test/fixtures/golden/models) have
 * no tokenizer, and an export needs one: each gets a copy of its config and weights plus a tokenizer trained on
 * the demo corpus, one kind per family so every kind llama.cpp must reproduce is covered:
 *  - tiny (llama, GQA):   SentencePiece-style BPE with byte fallback (Llama 2 / TinyLlama), <s> as BOS;
 *  - tiny-llama3:         byte-level BPE with Llama 3's split regex ("llama-bpe"), <|begin_of_text|> as BOS;
 *  - tiny-qwen2:          byte-level BPE with Qwen 2's split regex ("qwen2"), ChatML specials, no BOS;
 *  - tiny-qwen3:          byte-level BPE with SmolLM's single-digit split ("smollm").
 * Every vocabulary is at most 512 ids (the models' vocab_size), the rest are unused padding rows.
 */
import { copyFileSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { generateCorpus } from "../../src/demo/corpus.ts";
import {
  buildSentencePieceBpe,
  type TokenizerJson,
  trainByteLevelBpe,
  writeTokenizerDir,
} from "../../src/demo/train-bpe.ts";
import { SPLIT_PATTERNS } from "../../src/tokenizer/gguf-vocab.ts";

export const GOLDEN_MODELS = join(import.meta.dirname, "..", "fixtures", "golden", "models");

const CHATML =
  "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

export type TokenizerKind = "spm" | "llama-bpe" | "qwen2" | "smollm" | "spm-metaspace";

/** Which tokenizer each golden model gets. */
export const GOLDEN_TOKENIZERS: Record<string, TokenizerKind> = {
  tiny: "spm",
  "tiny-llama3": "llama-bpe",
  "tiny-qwen2": "qwen2",
  "tiny-qwen3": "smollm",
};

let corpus: string[] | undefined;
const texts = () => {
  corpus ??= generateCorpus(7, 400);
  return corpus;
};

/** Byte-level BPE with a pre-tokenizer llama.cpp knows by `pre`. */
function byteLevel(pre: "llama-bpe" | "qwen2" | "smollm", specials: string[], bos?: string): TokenizerJson {
  const tok = trainByteLevelBpe(texts(), {
    vocabSize: 500,
    specialTokens: specials,
    ...(bos ? { bosToken: bos } : {}),
  });
  if (pre === "smollm") {
    tok.pre_tokenizer = {
      type: "Sequence",
      pretokenizers: [{ type: "Digits", individual_digits: true }, tok.pre_tokenizer],
    };
  } else {
    tok.pre_tokenizer = {
      type: "Sequence",
      pretokenizers: [
        { type: "Split", pattern: { Regex: SPLIT_PATTERNS[pre] }, behavior: "Isolated", invert: false },
        { type: "ByteLevel", add_prefix_space: false, trim_offsets: true, use_regex: false },
      ],
    };
  }
  return tok;
}

/** Writes the tokenizer files of `kind` into `dir`. */
export function writeTestTokenizer(dir: string, kind: TokenizerKind): void {
  if (kind === "spm" || kind === "spm-metaspace") {
    const tok = buildSentencePieceBpe(texts(), {
      vocabSize: 500,
      specialTokens: ["<|im_start|>", "<|im_end|>"],
      prepend: kind === "spm" ? "normalizer" : "metaspace",
    });
    writeTokenizerDir(dir, {
      tokenizer: tok,
      config: { bos_token: "<s>", eos_token: "</s>", unk_token: "<unk>", add_bos_token: true, chat_template: CHATML },
    });
    return;
  }
  if (kind === "llama-bpe") {
    const tok = byteLevel(kind, ["<|begin_of_text|>", "<|end_of_text|>", "<|eot_id|>"], "<|begin_of_text|>");
    writeTokenizerDir(dir, {
      tokenizer: tok,
      config: { bos_token: "<|begin_of_text|>", eos_token: "<|end_of_text|>", add_bos_token: true },
      generationConfig: { eos_token_id: [tok.added_tokens.find((t) => t.content === "<|end_of_text|>")?.id] },
    });
    return;
  }
  const tok = byteLevel(kind, ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]);
  writeTokenizerDir(dir, {
    tokenizer: tok,
    config: { bos_token: null, eos_token: "<|im_end|>", pad_token: "<|endoftext|>", chat_template: CHATML },
  });
}

/** A copy of golden model `name` (config and weights) with its test tokenizer, under `root`. */
export function goldenModelWithTokenizer(root: string, name: string): string {
  const dir = join(root, name);
  mkdirSync(dir, { recursive: true });
  for (const f of ["config.json", "model.safetensors"]) copyFileSync(join(GOLDEN_MODELS, name, f), join(dir, f));
  writeTestTokenizer(dir, GOLDEN_TOKENIZERS[name]!);
  return dir;
}
