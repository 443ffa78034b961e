/**
 * Valid inputs for the fuzzer, built in memory: each seed is a directory's files (name → bytes) that the
 * loader under test accepts unchanged. Mutations corrupt one file of a seed; the others stay valid, so every
 * check downstream of the corrupted file is reached too.
 *
 *   safetensorsSeeds  standalone files: F32 / F16 / BF16 mixes, scalars and empty tensors, an I64 tensor
 *   modelSeeds        tiny Llama models: config.json + model.safetensors, or two shards + the index
 *   adapterSeeds      PEFT adapter directories for the tiny model (plain, rank_pattern, regex targets)
 *   jsonlSeeds        datasets of every row shape (pre-tokenized ones for the tokenizer-less model)
 *   tokenizerSeeds    tokenizer.json + tokenizer_config.json (byte-level ChatML and SentencePiece-style)
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { TensorToWrite } from "../../src/io/safetensors.ts";
import { writeSafetensors } from "../../src/io/safetensors-write.ts";
import { attachLora } from "../../src/lora/adapter.ts";
import { defaultLoraConfig, type LoraConfig } from "../../src/lora/config.ts";
import { writeGgufAdapter } from "../../src/lora/gguf-adapter.ts";
import { LoraAdapter } from "../../src/lora/methods/lora.ts";
import { peftConfigJson, saveAdapter } from "../../src/lora/peft-files.ts";
import { assembleModel } from "../../src/model/assemble.ts";
import type { Model } from "../../src/model/model.ts";
import { Rng } from "../../src/tensor/rng.ts";
import type { StoredTensor } from "../../src/tensor/stored-tensor.ts";
import { randomTensors, tinyConfig } from "../helpers/random-model.ts";
import {
  byteLevelTokenizerJson,
  CHATML_TEMPLATE,
  LLAMA2_TEMPLATE,
  spTokenizerJson,
} from "../unit/tokenizer-helpers.ts";

/** One directory's files. `main` names the file a loader is pointed at when it takes a file, not a directory. */
export interface Seed {
  name: string;
  files: Record<string, Uint8Array>;
  main?: string;
}

/** The tiny model's config.json (hidden 16, 2 layers, 4 heads / 2 KV heads, vocabulary 37, 64 positions). */
export const TINY_CONFIG_JSON = {
  model_type: "llama",
  hidden_size: 16,
  num_hidden_layers: 2,
  num_attention_heads: 4,
  num_key_value_heads: 2,
  intermediate_size: 24,
  vocab_size: 37,
  max_position_embeddings: 64,
  rms_norm_eps: 1e-5,
  rope_theta: 10000,
  tie_word_embeddings: true,
  bos_token_id: 1,
  eos_token_id: 2,
};

const enc = new TextEncoder();
const json = (v: unknown) => enc.encode(`${JSON.stringify(v, null, 2)}\n`);

/** Writes with the real writer into a scratch directory and returns every file's bytes. */
function captureDir(write: (dir: string) => void): Record<string, Uint8Array> {
  const dir = mkdtempSync(join(tmpdir(), "lt-fuzz-seed-"));
  try {
    write(dir);
    const out: Record<string, Uint8Array> = {};
    for (const f of readdirSync(dir)) out[f] = new Uint8Array(readFileSync(join(dir, f)));
    return out;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function safetensorsBytes(tensors: Map<string, TensorToWrite>, metadata?: Record<string, string>): Uint8Array {
  return captureDir((dir) => writeSafetensors(join(dir, "t.safetensors"), tensors, metadata))["t.safetensors"]!;
}

/** Values i·0.37 mod 3 − 1.5: varied, finite, exactly reproducible. */
function ramp(n: number): Float32Array {
  return Float32Array.from({ length: n }, (_, i) => ((i * 0.37) % 3) - 1.5);
}

/** Appends an I64 tensor by hand (the writer only writes float dtypes). */
function withI64Tensor(bytes: Uint8Array): Uint8Array {
  const n = Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(0, true));
  const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + n))) as Record<string, unknown>;
  const data = bytes.subarray(8 + n);
  header.position_ids = { dtype: "I64", shape: [4], data_offsets: [data.length, data.length + 32] };
  const h = enc.encode(JSON.stringify(header));
  const out = new Uint8Array(8 + h.length + data.length + 32);
  new DataView(out.buffer).setBigUint64(0, BigInt(h.length), true);
  out.set(h, 8);
  out.set(data, 8 + h.length);
  return out;
}

export function safetensorsSeeds(): Seed[] {
  const f32 = new Map<string, TensorToWrite>([
    ["a.weight", { dtype: "F32", shape: [4, 6], data: ramp(24) }],
    ["b.bias", { dtype: "F32", shape: [6], data: ramp(6) }],
  ]);
  const mixed = new Map<string, TensorToWrite>([
    ["x", { dtype: "BF16", shape: [3, 5], data: ramp(15) }],
    ["y", { dtype: "F16", shape: [2, 2, 2], data: ramp(8) }],
    ["z", { dtype: "F32", shape: [], data: ramp(1) }],
    ["empty", { dtype: "F32", shape: [0, 3], data: new Float32Array(0) }],
  ]);
  const file = (name: string, bytes: Uint8Array): Seed => ({ name, files: { [name]: bytes }, main: name });
  return [
    file("f32.safetensors", safetensorsBytes(f32, { format: "pt" })),
    file("mixed.safetensors", safetensorsBytes(mixed)),
    file("with-i64.safetensors", withI64Tensor(safetensorsBytes(f32))),
  ];
}

/** Model tensors of the tiny config (cached: building them is the slow part of setting up). */
let tinyTensors: Map<string, StoredTensor> | null = null;

export function tinyModelTensors(): Map<string, StoredTensor> {
  tinyTensors ??= randomTensors(tinyConfig(TINY_CONFIG_JSON), 7);
  return tinyTensors;
}

/** A fresh tiny model (no LoRA attached). */
export function tinyModel(): Model {
  return assembleModel(tinyConfig(TINY_CONFIG_JSON), tinyModelTensors(), "f32", "fuzz-model");
}

export function modelSeeds(): Seed[] {
  const toWrite = (dtype: "F32" | "BF16") =>
    new Map<string, TensorToWrite>(
      [...tinyModelTensors()].map(([k, t]) => [k, { dtype, shape: t.shape, data: t.data as Float32Array }]),
    );
  const single: Seed = {
    name: "model-single",
    files: { "config.json": json(TINY_CONFIG_JSON), "model.safetensors": safetensorsBytes(toWrite("F32")) },
  };
  const all = [...toWrite("BF16")];
  const half = Math.ceil(all.length / 2);
  const shards = [new Map(all.slice(0, half)), new Map(all.slice(half))];
  const shardName = (i: number) => `model-0000${i + 1}-of-00002.safetensors`;
  const weightMap: Record<string, string> = {};
  shards.forEach((s, i) => {
    for (const k of s.keys()) weightMap[k] = shardName(i);
  });
  const sharded: Seed = {
    name: "model-sharded",
    files: {
      "config.json": json({ ...TINY_CONFIG_JSON, rope_scaling: { rope_type: "linear", factor: 2 } }),
      "model.safetensors.index.json": json({ metadata: { total_size: 0 }, weight_map: weightMap }),
      [shardName(0)]: safetensorsBytes(shards[0]!),
      [shardName(1)]: safetensorsBytes(shards[1]!),
    },
  };
  return [single, sharded];
}

function adapterSeed(name: string, overrides: Partial<LoraConfig>, gguf = false): Seed {
  const config = defaultLoraConfig({ r: 4, ...overrides });
  const model = tinyModel();
  const rng = new Rng(11);
  attachLora(model, config, () => rng.next());
  // B is zero at init; give it values so a load that drops data is visible.
  for (const lin of model.linears) {
    if (lin.adapter instanceof LoraAdapter) lin.adapter.B.set(ramp(lin.adapter.B.length));
  }
  if (gguf) {
    const write = (dir: string) =>
      writeGgufAdapter(join(dir, "adapter.gguf"), model, peftConfigJson(config, model, "fuzz-model"), name);
    return { name, files: captureDir(write), main: "adapter.gguf" };
  }
  return { name, files: captureDir((dir) => saveAdapter(dir, model, config, "fuzz-model")) };
}

/** The adapter seeds as GGUF LoRA files (llama.cpp's layout, the PEFT config in the metadata). */
export function ggufAdapterSeeds(): Seed[] {
  return [
    adapterSeed("gguf-qv", {}, true),
    adapterSeed(
      "gguf-patterns",
      {
        targetModules: "all-linear",
        rankPattern: { "mlp.down_proj": 2 },
        alphaPattern: { q_proj: 4 },
        useRslora: true,
      },
      true,
    ),
  ];
}

export function adapterSeeds(): Seed[] {
  return [
    adapterSeed("adapter-qv", {}),
    adapterSeed("adapter-patterns", {
      targetModules: "all-linear",
      rankPattern: { "mlp.down_proj": 2 },
      alphaPattern: { q_proj: 4 },
      useRslora: true,
    }),
    adapterSeed("adapter-regex", { targetModules: ".*\\.(k_proj|o_proj)", layersToTransform: [1] }),
  ];
}

function jsonl(rows: unknown[]): Uint8Array {
  return enc.encode(`${rows.map((r) => JSON.stringify(r)).join("\n")}\n`);
}

/** Datasets read without a tokenizer (pre-tokenized; ids below the tiny model's vocabulary of 37). */
export const TOKENIZED_DATASETS: ReadonlySet<string> = new Set(["tokens.jsonl"]);

/** Datasets of every row shape; the text ones are read with the byte-level ChatML tokenizer. */
export function jsonlSeeds(): Seed[] {
  const ids = (n: number, k: number) => Array.from({ length: n }, (_, i) => (i * 7 + k) % 37);
  const file = (name: string, rows: unknown[]): Seed => ({ name, files: { [name]: jsonl(rows) }, main: name });
  return [
    file("tokens.jsonl", [
      { input_ids: ids(12, 1) },
      { input_ids: ids(9, 2), labels: [-100, -100, -100, ...ids(9, 2).slice(3)] },
      { input_ids: ids(20, 3), id: "x" },
    ]),
    file("text.jsonl", [{ text: "Hello world! The quick brown fox." }, { text: "What is two plus two? Four." }]),
    file("prompt.jsonl", [
      { prompt: "What is the capital of France?", completion: " Paris." },
      { prompt: "Two plus two is", completion: " four." },
    ]),
    file("messages.jsonl", [
      {
        messages: [
          { role: "system", content: "Answer briefly." },
          { role: "user", content: "Hello there" },
          { role: "assistant", content: "Hello world!" },
        ],
      },
      {
        messages: [
          { role: "user", content: "What is two plus two?" },
          { role: "assistant", content: "Four." },
          { role: "user", content: "And the capital of France?" },
          { role: "assistant", content: "Paris." },
        ],
      },
    ]),
    file("sharegpt.jsonl", [
      {
        conversations: [
          { from: "system", value: "Answer briefly." },
          { from: "human", value: "Hello there" },
          { from: "gpt", value: "Hello world!" },
        ],
      },
      {
        conversations: [
          { from: "human", value: "Two plus two?" },
          { from: "gpt", value: "Four." },
        ],
      },
    ]),
    file("parts.jsonl", [
      {
        messages: [
          {
            role: "user",
            content: [
              { type: "text", text: "What is " },
              { type: "text", text: "two plus two?" },
            ],
          },
          { role: "assistant", content: "Four." },
        ],
      },
    ]),
    file("alpaca.jsonl", [
      { instruction: "Write a poem.", input: "", output: "Roses are red." },
      { instruction: "Add the numbers.", input: "2 2", output: "4" },
    ]),
  ];
}

export function tokenizerSeeds(): Seed[] {
  return [
    {
      name: "tokenizer-chatml",
      files: {
        "tokenizer.json": json(byteLevelTokenizerJson()),
        "tokenizer_config.json": json({
          bos_token: null,
          eos_token: "<|im_end|>",
          pad_token: "<|endoftext|>",
          chat_template: CHATML_TEMPLATE,
        }),
      },
    },
    {
      name: "tokenizer-sp",
      files: {
        "tokenizer.json": json(spTokenizerJson()),
        "tokenizer_config.json": json({
          add_bos_token: true,
          add_eos_token: false,
          bos_token: "<s>",
          eos_token: "</s>",
          unk_token: "<unk>",
          chat_template: LLAMA2_TEMPLATE,
        }),
        "generation_config.json": json({ bos_token_id: 1, eos_token_id: [2] }),
      },
    },
  ];
}
