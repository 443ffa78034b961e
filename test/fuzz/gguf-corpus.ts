/**
 * Valid GGUF model files for the fuzzer, written by loratune's own export path (modelGgufMetadata,
 * modelGgufTensors, ggufVocab) from small random models, so each is what `loratune export` would write:
 *  - gguf-llama-spm-q4k      llama, SentencePiece-style tokenizer with a chat template; Q4_K for rows of 256
 *                            (ffn_down), Q8_0 for the rest (a mixed file, as a Q4_K_M one is), tied output
 *  - gguf-qwen2-bpe-f16      qwen2 (q/k/v biases), byte-level BPE ("gpt-2" split rules), F16, ChatML template
 *  - gguf-llama3-bpe-q6k     llama with Llama 3 RoPE scaling (rope_freqs), byte-level BPE, Q6_K / Q8_0, an untied
 *                            output head
 *  - gguf-qwen3-spm-bf16     qwen3 (q/k norms), SentencePiece-style tokenizer, BF16
 * Hidden size 32, intermediate 256, 1–2 layers, 512 vocabulary rows: 40–90 KiB each.
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { writeTokenizerDir } from "../../src/demo/train-bpe.ts";
import type { GgufMetadata } from "../../src/gguf/metadata.ts";
import { ggufOuttype } from "../../src/gguf/outtype.ts";
import { writeGguf } from "../../src/gguf/writer.ts";
import { assembleModel } from "../../src/model/assemble.ts";
import { modelGgufMetadata, modelGgufTensors } from "../../src/model/gguf-tensors.ts";
import { ggufVocab } from "../../src/tokenizer/gguf-vocab.ts";
import { loadTokenizer } from "../../src/tokenizer/load-tokenizer.ts";
import { randomTensors, tinyConfig } from "../helpers/random-model.ts";
import {
  byteLevelTokenizerJson,
  CHATML_TEMPLATE,
  LLAMA2_TEMPLATE,
  spTokenizerJson,
} from "../unit/tokenizer-helpers.ts";
import type { Seed } from "./corpus.ts";

interface SeedSpec {
  name: string;
  config: Record<string, unknown>;
  tokenizer: "spm" | "bpe";
  outtype: string;
}

const BASE = {
  hidden_size: 32,
  num_attention_heads: 4,
  num_key_value_heads: 2,
  intermediate_size: 256,
  vocab_size: 512,
  max_position_embeddings: 128,
  bos_token_id: 1,
  eos_token_id: 2,
};

const SPECS: SeedSpec[] = [
  {
    name: "gguf-llama-spm-q4k",
    config: { ...BASE, model_type: "llama", num_hidden_layers: 2 },
    tokenizer: "spm",
    outtype: "q4_k",
  },
  {
    name: "gguf-qwen2-bpe-f16",
    config: { ...BASE, model_type: "qwen2", num_hidden_layers: 1 },
    tokenizer: "bpe",
    outtype: "f16",
  },
  {
    name: "gguf-llama3-bpe-q6k",
    config: {
      ...BASE,
      model_type: "llama",
      num_hidden_layers: 1,
      tie_word_embeddings: false,
      rope_theta: 500000,
      rope_scaling: {
        rope_type: "llama3",
        factor: 8,
        low_freq_factor: 1,
        high_freq_factor: 4,
        original_max_position_embeddings: 32,
      },
    },
    tokenizer: "bpe",
    outtype: "q6_k",
  },
  {
    name: "gguf-qwen3-spm-bf16",
    config: { ...BASE, model_type: "qwen3", num_hidden_layers: 1, head_dim: 8 },
    tokenizer: "spm",
    outtype: "bf16",
  },
];

/** The GGUF bytes of one spec. */
function ggufBytes(spec: SeedSpec, work: string): Uint8Array {
  const config = tinyConfig(spec.config);
  const model = assembleModel(config, randomTensors(config, 5), "f32", spec.name);
  const tokDir = join(work, `${spec.name}-tokenizer`);
  writeTokenizerDir(tokDir, {
    tokenizer: spec.tokenizer === "spm" ? spTokenizerJson() : byteLevelTokenizerJson(),
    config:
      spec.tokenizer === "spm"
        ? { bos_token: "<s>", eos_token: "</s>", unk_token: "<unk>", chat_template: LLAMA2_TEMPLATE }
        : { bos_token: null, eos_token: "<|im_end|>", pad_token: "<|endoftext|>", chat_template: CHATML_TEMPLATE },
  });
  const vocab = ggufVocab(tokDir, loadTokenizer(tokDir), config.vocabSize);
  const outtype = ggufOuttype(spec.outtype);
  const meta: GgufMetadata = new Map([...modelGgufMetadata(model, spec.name, outtype), ...vocab.metadata]);
  const path = join(work, `${spec.name}.gguf`);
  writeGguf(path, meta, modelGgufTensors(model, outtype).tensors);
  return new Uint8Array(readFileSync(path));
}

let cached: Seed[] | null = null;

/** The GGUF model seeds (built once). */
export function ggufModelSeeds(): Seed[] {
  if (cached) return cached;
  const work = mkdtempSync(join(tmpdir(), "lt-fuzz-gguf-seed-"));
  try {
    cached = SPECS.map((spec) => ({
      name: spec.name,
      files: { "model.gguf": ggufBytes(spec, work) },
      main: "model.gguf",
    }));
    return cached;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}
