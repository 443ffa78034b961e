/**
 * The training memory estimate made before loading (from config.json and the options) equals the one made from
 * the loaded model, for LoRA (with and without dropout and checkpointing), quantized bases and full training; the
 * memory available honours LORATUNE_MEMORY_LIMIT; a run that would not fit is refused in one line.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { isLoratuneError } from "../../src/errors.ts";
import { getKernels } from "../../src/kernels/index.ts";
import { adapterParams, attachAdapter } from "../../src/lora/adapter.ts";
import { defaultLoraConfig } from "../../src/lora/config.ts";
import type { AdapterConfig } from "../../src/lora/method.ts";
import { assembleModel } from "../../src/model/assemble.ts";
import type { ModelConfig } from "../../src/model/config.ts";
import { enableFullTraining } from "../../src/model/full-params.ts";
import { quantizeLinears } from "../../src/model/quantize.ts";
import type { QuantizeChoice } from "../../src/tensor/formats/index.ts";
import { heldFormat, planTrainingMemory, trainingMemory } from "../../src/train/memory.ts";
import { availableMemory, checkMemoryFits, parseMemorySize } from "../../src/train/memory-check.ts";
import { randomTensors, tinyConfig } from "../helpers/random-model.ts";

const k = getKernels();

interface Case {
  name: string;
  config: ModelConfig;
  lora: AdapterConfig | null;
  quantize?: QuantizeChoice;
  checkpoint: boolean;
}

const wide = tinyConfig({ hidden_size: 64, intermediate_size: 96, num_attention_heads: 4, num_key_value_heads: 2 });
const untied = tinyConfig({ hidden_size: 32, intermediate_size: 64, tie_word_embeddings: false });

const CASES: Case[] = [
  { name: "LoRA q,v", config: tinyConfig(), lora: defaultLoraConfig({ r: 4 }), checkpoint: false },
  {
    name: "LoRA all-linear, dropout, checkpointing",
    config: untied,
    lora: defaultLoraConfig({ r: 8, targetModules: "all-linear", loraDropout: 0.1 }),
    checkpoint: true,
  },
  {
    name: "LoRA q_proj,down_proj on layer 1",
    config: untied,
    lora: defaultLoraConfig({ r: 4, targetModules: ["q_proj", "down_proj"], layersToTransform: [1] }),
    checkpoint: false,
  },
  {
    name: "q8_0 base",
    config: wide,
    lora: defaultLoraConfig({ r: 16, targetModules: "all-linear" }),
    quantize: "q8_0",
    checkpoint: true,
  },
  { name: "full fine-tuning", config: untied, lora: null, checkpoint: false },
];

for (const c of CASES) {
  test(`memory estimate before loading = after loading: ${c.name}`, () => {
    const model = assembleModel(c.config, randomTensors(c.config, 1), "f32", "test");
    if (c.quantize) quantizeLinears(k, model, c.quantize);
    let trainable: number;
    if (c.lora) {
      attachAdapter(model, c.lora, () => 0.5);
      trainable = adapterParams(model).reduce((n, p) => n + p.data.length, 0);
    } else {
      trainable = enableFullTraining(model).reduce((n, p) => n + p.data.length, 0);
    }
    const after = trainingMemory(model, trainable, 3, 16, c.checkpoint);
    const before = planTrainingMemory({
      config: c.config,
      formatOf: (spec) => heldFormat(spec, "f32", c.quantize),
      adapter: c.lora,
      B: 3,
      T: 16,
      checkpoint: c.checkpoint,
    });
    assert.deepEqual(before, after);
  });
}

test("LORATUNE_MEMORY_LIMIT sets the memory available; sizes take K/M/G/T", () => {
  assert.equal(parseMemorySize("1000"), 1000);
  assert.equal(parseMemorySize("8G"), 8 * 2 ** 30);
  assert.equal(parseMemorySize("1.5GiB"), 1.5 * 2 ** 30);
  assert.equal(parseMemorySize("512m"), 512 * 2 ** 20);
  assert.throws(() => parseMemorySize("lots"), /LORATUNE_MEMORY_LIMIT="lots"/);
  assert.deepEqual(availableMemory({ LORATUNE_MEMORY_LIMIT: "2G" }), {
    bytes: 2 * 2 ** 30,
    source: "LORATUNE_MEMORY_LIMIT",
  });
  const system = availableMemory({});
  assert.ok(system.bytes > 0 && Number.isFinite(system.bytes), JSON.stringify(system));
});

test("a run over the memory available is refused in one line naming the estimate, the memory and remedies", () => {
  const memory = planTrainingMemory({
    config: tinyConfig(),
    formatOf: (spec) => heldFormat(spec, "f32"),
    adapter: defaultLoraConfig({ r: 4 }),
    B: 2,
    T: 8,
    checkpoint: false,
  });
  const available = { bytes: 2 ** 20, source: "LORATUNE_MEMORY_LIMIT" };
  assert.throws(
    () => checkMemoryFits(memory, available, ["--grad-checkpoint"], "--no-memory-check"),
    (err: unknown) => {
      assert.ok(isLoratuneError(err) && err.code === "ERR_MEMORY");
      assert.equal(err.message.split("\n").length, 1);
      assert.match(
        err.message,
        /would need about \d+ MiB \(estimate: weights .*\) but 1 MiB is available \(LORATUNE_MEMORY_LIMIT\)/,
      );
      assert.match(err.message, /try --grad-checkpoint, or --no-memory-check to try anyway/);
      return true;
    },
  );
  checkMemoryFits(memory, { bytes: memory.totalBytes, source: "x" }, [], "--no-memory-check");
});
