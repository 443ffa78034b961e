/**
 * The loaders under fuzz, each with its valid seeds and the mutators used on each kind of file. `run` loads
 * the (possibly corrupted) directory the way loratune does and checks what a success returned; it throws
 * whatever the loader throws. `check` failures are thrown as InvariantError (a loader accepted garbage).
 */
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { baseHeldFormats, readBaseConfig, writeGgufSideFiles } from "../../src/api/model-source.ts";
import { readDataset } from "../../src/data/dataset.ts";
import { isLoratuneError } from "../../src/errors.ts";
import { loadModelWeights } from "../../src/io/model-weights.ts";
import { READABLE_DTYPES, readSafetensors, readSafetensorsHeader, readTensors } from "../../src/io/safetensors.ts";
import { detachLora, loraTensors } from "../../src/lora/adapter.ts";
import { loadAdapter } from "../../src/lora/peft-files.ts";
import { familyOf } from "../../src/model/arch/registry.ts";
import { assembleModel } from "../../src/model/assemble.ts";
import { readModelConfig } from "../../src/model/config-file.ts";
import { loadModel } from "../../src/model/load.ts";
import type { Model } from "../../src/model/model.ts";
import { loadGgufTokenizer } from "../../src/tokenizer/gguf-tokenizer.ts";
import { loadTokenizer } from "../../src/tokenizer/load-tokenizer.ts";
import type { Tokenizer } from "../../src/tokenizer/tokenizer.ts";
import { chatmlTokenizer } from "../unit/tokenizer-helpers.ts";
import {
  adapterSeeds,
  ggufAdapterSeeds,
  jsonlSeeds,
  modelSeeds,
  type Seed,
  safetensorsSeeds,
  TOKENIZED_DATASETS,
  tinyModel,
  tokenizerSeeds,
} from "./corpus.ts";
import { ggufModelSeeds } from "./gguf-corpus.ts";
import { GGUF_MUTATORS } from "./gguf-mutator.ts";
import { BYTE_MUTATORS, jsonlMutator, jsonMutator, type Mutator, safetensorsMutator } from "./mutators.ts";

/** A loader returned something inconsistent for a corrupted input (silent garbage instead of an error). */
export class InvariantError extends Error {
  override name = "InvariantError";
}

function check(ok: boolean, what: string): void {
  if (!ok) throw new InvariantError(what);
}

export interface FuzzTarget {
  name: string;
  /** Valid inputs (built once, lazily). */
  seeds: () => Seed[];
  /** Loads the case directory `dir`, built from `seed` with one file corrupted. */
  run: (dir: string, seed: Seed) => void;
}

const weighted = (special: Mutator): Mutator[] => [...BYTE_MUTATORS, special, special, special, special];
const SAFETENSORS_MUTATORS = weighted(safetensorsMutator);
const JSON_MUTATORS = weighted(jsonMutator);
const JSONL_MUTATORS = weighted(jsonlMutator);

/** The mutators for a file, by its extension. */
export function mutatorsFor(file: string): readonly Mutator[] {
  if (file.endsWith(".safetensors")) return SAFETENSORS_MUTATORS;
  if (file.endsWith(".jsonl")) return JSONL_MUTATORS;
  if (file.endsWith(".gguf")) return GGUF_MUTATORS;
  if (file.endsWith(".json")) return JSON_MUTATORS;
  return BYTE_MUTATORS;
}

const numel = (shape: number[]) => shape.reduce((n, d) => n * d, 1);

function runSafetensors(dir: string, seed: Seed): void {
  const path = join(dir, seed.main!);
  const file = readSafetensorsHeader(path);
  const readable = [...file.tensors.keys()].filter((n) => READABLE_DTYPES.has(file.tensors.get(n)!.dtype));
  for (const as of ["f32", "bf16"] as const) {
    for (const [name, t] of readTensors(file, readable, as)) {
      check(t.data.length === numel(t.shape), `${name}: ${t.data.length} values for shape [${t.shape}]`);
      check(t.dtype === as, `${name}: read as ${t.dtype}, asked for ${as}`);
    }
  }
  // Reading the whole file must refuse exactly the files with tensors of dtypes it cannot read.
  let refused: unknown = null;
  try {
    readSafetensors(path, "f32");
  } catch (err) {
    refused = err;
  }
  if (file.unsupported.length === 0 && refused !== null) throw refused;
  check(file.unsupported.length === 0 || isLoratuneError(refused), "a file with unreadable dtypes was read whole");
}

/** As loadModel does, except that RoPE tables are built for at most 4096 positions (see the report). */
function runModel(dir: string): void {
  const config = readModelConfig(dir);
  const tensors = loadModelWeights(dir, "bf16");
  const model = assembleModel(config, tensors, "bf16", dir, Math.min(config.maxPositions, 4096));
  check(model.layers.length === config.numLayers, "layer count differs from the config");
  check(model.embed.data.length === config.vocabSize * config.hiddenSize, "embedding size differs from the config");
}

let adapterModel: Model | null = null;

/** A PEFT adapter directory, or (seeds with a main file) a GGUF LoRA file in it. */
function runAdapter(dir: string, seed: Seed): void {
  adapterModel ??= tinyModel();
  const model = adapterModel;
  try {
    loadAdapter(seed.main !== undefined ? join(dir, seed.main) : dir, model);
    const tensors = loraTensors(model);
    check(tensors.length > 0, "no LoRA tensors attached");
    for (const t of tensors) {
      check(t.data.length === numel(t.shape), `${t.name}: size differs from its shape`);
      check(
        t.data.every((x) => Number.isFinite(x)),
        `${t.name}: non-finite value loaded`,
      );
    }
  } finally {
    detachLora(model);
  }
}

let chatml: Tokenizer | null = null;

function runJsonl(dir: string, seed: Seed): void {
  const path = join(dir, seed.main!);
  const tokenized = TOKENIZED_DATASETS.has(seed.name);
  chatml ??= chatmlTokenizer();
  const tok = tokenized ? null : chatml;
  const vocab = tokenized ? 37 : chatml.vocabSize;
  const seqLen = tokenized ? 48 : 256;
  const data = readDataset(path, tok, { seqLen, ...(tokenized ? { vocabSize: vocab } : {}) });
  check(data.examples.length > 0, "no examples");
  for (const ex of data.examples) {
    check(ex.ids.length === ex.labels.length, "ids and labels differ in length");
    check(ex.ids.length <= seqLen, "example longer than seqLen");
    check(
      ex.ids.every((id) => Number.isInteger(id) && id >= 0 && id < vocab),
      "token id outside the vocabulary",
    );
    check(
      ex.labels.every((id) => id === -100 || (Number.isInteger(id) && id >= 0 && id < vocab)),
      "label outside the vocabulary",
    );
  }
}

function runTokenizer(dir: string): void {
  checkTokenizer(loadTokenizer(dir));
}

/** Encodes, decodes and renders a chat with `tok`, checking the ids it gives. */
function checkTokenizer(tok: Tokenizer): void {
  const ids = tok.encode("Hello world! What is two plus two?");
  check(
    ids.every((id) => Number.isInteger(id) && id >= 0 && id < tok.vocabSize),
    "encode gave ids outside the vocabulary",
  );
  tok.decode(ids);
  if (tok.chatTemplate !== null) {
    tok.applyChatTemplate(
      [
        { role: "user", content: "Hi" },
        { role: "assistant", content: "Hello" },
      ],
      { addGenerationPrompt: false },
    );
  }
}

/**
 * A GGUF base model as the commands read it: loadModel (bf16, RoPE tables for at most 4096 positions), the
 * tokenizer from its metadata, and model-source's config, memory-estimate formats and the side files a model
 * directory written from it gets. The tokenizer is tried even when the weights were refused (its checks are
 * separate); a crash there outranks the weights' typed error.
 */
function runGgufModel(dir: string, seed: Seed): void {
  const path = join(dir, seed.main!);
  let first: unknown = null;
  try {
    const config = readBaseConfig(path);
    const held = baseHeldFormats(path, "bf16", "q8_0");
    for (const spec of familyOf(config).params(config)) held?.(spec);
    const model = loadModel(path, { dtype: "bf16", ropePositions: Math.min(config.maxPositions, 4096) });
    check(model.layers.length === config.numLayers, "layer count differs from the config");
    check(model.embed.data.length > 0, "empty embedding");
  } catch (err) {
    first = err;
  }
  try {
    checkTokenizer(loadGgufTokenizer(path));
    mkdirSync(join(dir, "side"), { recursive: true });
    writeGgufSideFiles(join(dir, "side"), path);
  } catch (err) {
    if (first === null || !isLoratuneError(err)) first = err;
  }
  if (first !== null) throw first;
}

export const TARGETS: readonly FuzzTarget[] = [
  { name: "safetensors", seeds: safetensorsSeeds, run: runSafetensors },
  { name: "model", seeds: modelSeeds, run: runModel },
  { name: "adapter", seeds: adapterSeeds, run: runAdapter },
  { name: "gguf-adapter", seeds: ggufAdapterSeeds, run: runAdapter },
  { name: "gguf-model", seeds: ggufModelSeeds, run: runGgufModel },
  { name: "jsonl", seeds: jsonlSeeds, run: runJsonl },
  { name: "tokenizer", seeds: tokenizerSeeds, run: runTokenizer },
];
