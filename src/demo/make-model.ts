/**
 * Makes the bundled demo base model from nothing: a seeded corpus of the demo world (src/demo/corpus.ts), a
 * byte-level BPE tokenizer trained on it with a ChatML chat template, a small random-init Llama, and
 * full-parameter pretraining with loratune's own trainer. The result is a standard Hugging Face model directory
 * (config.json, model.safetensors in bf16, tokenizer.json, tokenizer_config.json, generation_config.json).
 * The corpus never shows the downstream task's format, so the base model cannot do the task.
 */
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { train } from "../api/train.ts";
import { writeDirAtomic } from "../io/output-dir.ts";
import { writeSafetensors } from "../io/safetensors-write.ts";
import { parseModelConfig } from "../model/config.ts";
import { initModelTensors } from "../model/init.ts";
import { loadModel } from "../model/load.ts";
import { writeModelFiles } from "../model/save-dir.ts";
import type { TrainEvent } from "../train/trainer.ts";
import { corpusJsonl, generateCorpus } from "./corpus.ts";
import { trainByteLevelBpe, writeTokenizerDir } from "./train-bpe.ts";

export const DEMO_SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|pad|>"];

/** ChatML, as Qwen and SmolLM2-Instruct use it. */
export const DEMO_CHAT_TEMPLATE =
  "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}{% endfor %}" +
  "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

export interface DemoModelOptions {
  out: string;
  seed: number;
  passages: number;
  vocabSize: number;
  hiddenSize: number;
  layers: number;
  heads: number;
  kvHeads: number;
  intermediateSize: number;
  maxPositions: number;
  steps: number;
  batchSize: number;
  seqLen: number;
  lr: number;
  onEvent?: (e: TrainEvent) => void;
  onMessage?: (text: string) => void;
}

export const DEMO_MODEL_DEFAULTS: Omit<DemoModelOptions, "out"> = {
  seed: 1234,
  passages: 60000,
  vocabSize: 1024,
  hiddenSize: 256,
  layers: 4,
  heads: 4,
  kvHeads: 2,
  intermediateSize: 704,
  maxPositions: 512,
  steps: 2500,
  batchSize: 16,
  seqLen: 128,
  lr: 2e-3,
};

export async function makeDemoModel(o: DemoModelOptions): Promise<void> {
  const say = o.onMessage ?? (() => {});
  const work = mkdtempSync(join(tmpdir(), "loratune-demo-model-"));
  try {
    const passages = generateCorpus(o.seed, o.passages);
    const corpusPath = join(work, "corpus.jsonl");
    writeFileSync(corpusPath, corpusJsonl(passages));
    say(`corpus: ${passages.length} passages`);

    const initDir = join(work, "init");
    const tokenizer = trainByteLevelBpe(passages, { vocabSize: o.vocabSize, specialTokens: DEMO_SPECIAL_TOKENS });
    writeTokenizerDir(initDir, {
      tokenizer,
      config: {
        bos_token: null,
        eos_token: "<|endoftext|>",
        pad_token: "<|pad|>",
        add_bos_token: false,
        add_eos_token: false,
        chat_template: DEMO_CHAT_TEMPLATE,
        model_max_length: o.maxPositions,
        clean_up_tokenization_spaces: false,
        tokenizer_class: "PreTrainedTokenizerFast",
      },
      generationConfig: {
        eos_token_id: [tokenId(tokenizer.added_tokens, "<|endoftext|>"), tokenId(tokenizer.added_tokens, "<|im_end|>")],
      },
    });
    const vocab = Math.max(...tokenizer.added_tokens.map((t) => t.id), ...Object.values(tokenizer.model.vocab)) + 1;
    const configJson = {
      architectures: ["LlamaForCausalLM"],
      model_type: "llama",
      hidden_act: "silu",
      hidden_size: o.hiddenSize,
      intermediate_size: o.intermediateSize,
      num_hidden_layers: o.layers,
      num_attention_heads: o.heads,
      num_key_value_heads: o.kvHeads,
      vocab_size: vocab,
      max_position_embeddings: o.maxPositions,
      rms_norm_eps: 1e-5,
      rope_theta: 10000.0,
      tie_word_embeddings: true,
      attention_bias: false,
      mlp_bias: false,
      bos_token_id: null,
      eos_token_id: tokenId(tokenizer.added_tokens, "<|endoftext|>"),
      pad_token_id: tokenId(tokenizer.added_tokens, "<|pad|>"),
      torch_dtype: "float32",
      initializer_range: 0.02,
    };
    writeFileSync(join(initDir, "config.json"), `${JSON.stringify(configJson, null, 2)}\n`);
    const weights = initModelTensors(parseModelConfig(configJson), { seed: o.seed });
    const toWrite = new Map(
      [...weights].map(([name, t]) => [name, { dtype: "F32" as const, shape: t.shape, data: t.data as Float32Array }]),
    );
    writeSafetensors(join(initDir, "model.safetensors"), toWrite, { format: "pt" });
    say(`model: ${vocab} tokens, hidden ${o.hiddenSize}, ${o.layers} layers; pretraining ${o.steps} steps`);

    const runDir = join(work, "run");
    await train(
      {
        // Only what differs from train's defaults (TRAIN_OPTIONS, ADAMW_DEFAULTS).
        model: initDir,
        data: corpusPath,
        out: runDir,
        valSplit: 0.01,
        overwrite: true,
        full: true,
        steps: o.steps,
        batchSize: o.batchSize,
        seqLen: o.seqLen,
        pack: true,
        seed: o.seed,
        lr: o.lr,
        lrSchedule: "cosine",
        warmupSteps: Math.min(100, Math.floor(o.steps / 10)),
        weightDecay: 0.01,
        maxGradNorm: 1,
        beta2: 0.95,
        evalEvery: Math.max(1, Math.floor(o.steps / 10)),
        keepCheckpoints: 1,
      },
      { ...(o.onEvent ? { onEvent: o.onEvent } : {}) },
    );
    // Stored as bf16 (half the size in the repository); the engine computes in f32 either way.
    const trained = loadModel(runDir, { dtype: "f32" });
    writeDirAtomic(o.out, true, (tmp) => {
      writeModelFiles(tmp, trained, runDir, "BF16");
      mkdirSync(join(tmp, "pretraining"));
      copyFileSync(join(runDir, "metrics.jsonl"), join(tmp, "pretraining", "metrics.jsonl"));
      copyFileSync(join(runDir, "config.yaml"), join(tmp, "pretraining", "config.yaml"));
    });
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

function tokenId(added: { id: number; content: string }[], content: string): number {
  const t = added.find((a) => a.content === content);
  if (!t) throw new Error(`demo tokenizer: special token ${content} missing`);
  return t.id;
}
