/**
 * Small tokenizers standing in for released chat models, each with the model's real chat template (from
 * test/fixtures/chat-templates/) and the added tokens, BOS/EOS and generation_config stop ids that template
 * relies on. The vocabularies are tiny (trained on CORPUS), but the added tokens are the model's own strings,
 * so the rendered conversations tokenize the way the chat structure of the real model does.
 */
import { readFileSync } from "node:fs";
import type { Example } from "../../src/data/encode.ts";
import { buildSentencePieceBpe, type TokenizerJson, trainByteLevelBpe } from "../../src/demo/train-bpe.ts";
import { Tokenizer } from "../../src/tokenizer/tokenizer.ts";
import { CORPUS } from "./tokenizer-helpers.ts";

export const TEMPLATE_DIR = new URL("../fixtures/chat-templates/", import.meta.url);

export function readTemplate(name: string): string {
  return readFileSync(new URL(`${name}.jinja`, TEMPLATE_DIR), "utf8");
}

interface ModelSpec {
  /** Fixture file name (without .jinja). */
  template: string;
  /** Tokenizer style: byte-level BPE (GPT-2/tiktoken family) or SentencePiece BPE with "▁" (Llama-2 family). */
  style: "byte" | "sp" | "sp-metaspace";
  /** Added tokens besides the style's own (<unk>/<s>/</s> for SentencePiece). */
  added: string[];
  /** Added tokens that are not special (Qwen3's <think>, </think>). */
  notSpecial?: string[];
  config: Record<string, unknown>;
  /** generation_config.json eos_token_id, as token strings. */
  stop?: string[];
}

const CHATML = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"];
const GEMMA = ["<bos>", "<eos>", "<pad>", "<start_of_turn>", "<end_of_turn>"];

export const MODELS: Record<string, ModelSpec> = {
  "qwen2.5": {
    template: "qwen2.5",
    style: "byte",
    added: CHATML,
    config: { bos_token: null, eos_token: "<|im_end|>", pad_token: "<|endoftext|>" },
    stop: ["<|im_end|>", "<|endoftext|>"],
  },
  qwen3: {
    template: "qwen3",
    style: "byte",
    added: [...CHATML, "<think>", "</think>"],
    notSpecial: ["<think>", "</think>"],
    config: { bos_token: null, eos_token: "<|im_end|>", pad_token: "<|endoftext|>" },
    stop: ["<|im_end|>", "<|endoftext|>"],
  },
  "llama3.2": {
    template: "llama3.2",
    style: "byte",
    added: ["<|begin_of_text|>", "<|end_of_text|>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"],
    config: { bos_token: "<|begin_of_text|>", eos_token: "<|eot_id|>" },
    stop: ["<|end_of_text|>", "<|eot_id|>"],
  },
  "mistral-v0.3": {
    template: "mistral-v0.3",
    style: "sp-metaspace",
    added: ["[INST]", "[/INST]", "[TOOL_CALLS]", "[AVAILABLE_TOOLS]", "[/AVAILABLE_TOOLS]", "[TOOL_RESULTS]"],
    config: { add_bos_token: true, add_eos_token: false, bos_token: "<s>", eos_token: "</s>", unk_token: "<unk>" },
  },
  phi3: {
    template: "phi3",
    style: "sp",
    added: ["<|endoftext|>", "<|assistant|>", "<|end|>", "<|system|>", "<|user|>"],
    config: { add_bos_token: false, bos_token: "<s>", eos_token: "<|endoftext|>", unk_token: "<unk>" },
    stop: ["<|endoftext|>", "<|assistant|>", "<|end|>"],
  },
  phi4: {
    template: "phi4",
    style: "byte",
    added: ["<|endoftext|>", "<|im_start|>", "<|im_sep|>", "<|im_end|>"],
    config: { bos_token: "<|endoftext|>", eos_token: "<|im_end|>", pad_token: "<|endoftext|>" },
  },
  gemma2: {
    template: "gemma2",
    style: "byte",
    added: GEMMA,
    config: { add_bos_token: true, bos_token: "<bos>", eos_token: "<eos>", pad_token: "<pad>" },
    stop: ["<eos>", "<end_of_turn>"],
  },
  gemma3: {
    template: "gemma3",
    style: "byte",
    added: [...GEMMA, "<start_of_image>"],
    config: { add_bos_token: true, bos_token: "<bos>", eos_token: "<eos>", pad_token: "<pad>" },
    stop: ["<eos>", "<end_of_turn>"],
  },
  smollm2: {
    template: "smollm2",
    style: "byte",
    added: CHATML,
    config: { bos_token: "<|im_start|>", eos_token: "<|im_end|>", pad_token: "<|im_end|>", unk_token: "<|endoftext|>" },
  },
};

function tokenizerJson(spec: ModelSpec): TokenizerJson {
  const tj =
    spec.style === "byte"
      ? trainByteLevelBpe(CORPUS, { vocabSize: 400, specialTokens: spec.added })
      : buildSentencePieceBpe(CORPUS, {
          vocabSize: 500,
          specialTokens: spec.added,
          prepend: spec.style === "sp-metaspace" ? "metaspace" : "normalizer",
        });
  for (const t of tj.added_tokens) if (spec.notSpecial?.includes(t.content)) t.special = false;
  return tj;
}

/** A tokenizer shaped like `model`'s (a key of MODELS), with its chat template. */
export function modelTokenizer(model: string, template?: string): Tokenizer {
  const spec = MODELS[model];
  if (spec === undefined) throw new Error(`no test model ${model}`);
  const tj = tokenizerJson(spec);
  const id = (text: string) => {
    const t = tj.added_tokens.find((a) => a.content === text);
    if (t === undefined) throw new Error(`${model}: ${text} is not an added token`);
    return t.id;
  };
  return new Tokenizer({
    origin: `mem:${model}`,
    tokenizer: tj,
    config: { ...spec.config, chat_template: template ?? readTemplate(spec.template) },
    generationConfig: spec.stop ? { eos_token_id: spec.stop.map(id) } : null,
  });
}

/**
 * The example as runs of [kind, text]: "LOSS" where the label is set (position 0 never), "masked" elsewhere.
 * Each run's text is read inside the whole sequence (the decoded prefix up to its end, less the decoded prefix
 * before it), so a SentencePiece "▁" at a run's start reads as the space it is.
 */
export function runsInContext(ex: Example, tok: Tokenizer): [string, string][] {
  const runs: [string, string][] = [];
  let start = 0;
  let before = "";
  for (let t = 1; t <= ex.ids.length; t++) {
    const kind = (i: number) => (i > 0 && ex.labels[i] !== -100 ? "LOSS" : "masked");
    if (t < ex.ids.length && kind(t) === kind(start)) continue;
    const upTo = tok.decode(ex.ids.slice(0, t));
    runs.push([kind(start), upTo.slice(before.length)]);
    before = upTo;
    start = t;
  }
  return runs;
}

/** The texts of the trained runs only. */
export function trainedTexts(ex: Example, tok: Tokenizer): string[] {
  return runsInContext(ex, tok)
    .filter(([k]) => k === "LOSS")
    .map(([, text]) => text);
}
