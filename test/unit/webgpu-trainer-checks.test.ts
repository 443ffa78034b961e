/**
 * The GPU trainer's checks that need no GPU (src/webgpu/memory.ts, support.ts): the preflight's byte counts and
 * its refusals naming the adapter limit, and the refusals of what the GPU trainer does not compute, made before a
 * single buffer is allocated (createGpuLoraTrainer is given a device that fails any allocation).
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { isLoratuneError } from "../../src/errors.ts";
import { refKernels } from "../../src/kernels/ref/index.ts";
import { attachLora } from "../../src/lora/adapter.ts";
import { defaultLoraConfig } from "../../src/lora/config.ts";
import { assembleModel } from "../../src/model/assemble.ts";
import type { Model } from "../../src/model/model.ts";
import { convertTensor } from "../../src/model/quantize.ts";
import type { StorageDType } from "../../src/tensor/formats/index.ts";
import { Rng } from "../../src/tensor/rng.ts";
import { checkGpuLimits, estimateGpuMemory, gpuBufferPlan } from "../../src/webgpu/memory.ts";
import { checkGpuTrainable } from "../../src/webgpu/support.ts";
import { createGpuLoraTrainer } from "../../src/webgpu/trainer.ts";
import { randomModel } from "../helpers/random-model.ts";

function withLora(model: Model, overrides: Parameters<typeof defaultLoraConfig>[0] = {}): Model {
  const rng = new Rng(1);
  attachLora(model, defaultLoraConfig({ r: 4, targetModules: "all-linear", ...overrides }), () => rng.next());
  return model;
}

const refusal =
  (pattern: RegExp, code = "ERR_UNSUPPORTED") =>
  (e: unknown) =>
    isLoratuneError(e) && e.code === code && pattern.test(e.message);

test("the memory plan counts every buffer once: weights (f32 and bf16), adapter state, activations", () => {
  const model = withLora(randomModel({}, 1));
  const c = model.config; // C 16, 2 layers, heads 4 × hd 4, kv 2, F 24, V 37, tied
  const est = estimateGpuMemory(model, 2, 8);
  const N = 16;
  const linear = 2 * (16 * 16 + 8 * 16 + 8 * 16 + 16 * 16 + 3 * 24 * 16);
  const norms = (2 * 2 + 1) * 16;
  const rope = 2 * 8 * 2; // positions min(seqLen 8, 64) × hd/2, cos and sin
  assert.equal(est.weightBytes, 4 * (37 * 16 + linear + norms + rope));
  // A [4, in] and B [out, 4] with gradient, m, v; per linear: 4 × 4 × (in + out) values.
  const ab = 2 * 4 * (16 + 16 + (16 + 8) + (16 + 8) + (16 + 16) + 2 * (16 + 24) + (24 + 16));
  const xa = 2 * 7 * N * 4;
  assert.equal(est.adapterBytes, 4 * 4 * ab);
  assert.equal(est.totalBytes, est.weightBytes + est.adapterBytes + est.activationBytes);
  assert.ok(est.activationBytes > 4 * (2 * N * c.vocabSize) + 4 * xa, "logits, dlogits and xa are activations");
  assert.equal(
    gpuBufferPlan(model, 2, 8).reduce((n, [, b]) => n + b, 0),
    est.totalBytes,
  );
  const bf16 = estimateGpuMemory(withLora(randomModel({}, 1)), 2, 8);
  assert.equal(bf16.weightBytes, est.weightBytes);
  const half = withLora(randomModelAs("bf16"));
  assert.equal(estimateGpuMemory(half, 2, 8).weightBytes, 4 * (norms + rope) + 2 * (37 * 16 + linear));
});

/** A random model with its 2-D weights stored as `dtype` (as loadModel converts them; norms stay f32). */
function randomModelAs(dtype: StorageDType, overrides: Record<string, unknown> = {}): Model {
  const m = randomModel(overrides, 1);
  const tensors = new Map(
    [...m.tensors].map(([name, t]) => [name, t.shape.length === 2 ? convertTensor(refKernels, t, dtype) : t]),
  );
  return assembleModel(m.config, tensors, dtype, "random-model", m.config.maxPositions, "F32", false);
}

test("the preflight refuses a buffer over maxBufferSize or maxStorageBufferBindingSize, naming the limit", () => {
  const model = withLora(randomModel({}, 1));
  const est = estimateGpuMemory(model, 64, 64); // logits [4096, 37] f32 = 592 KiB, the largest buffer
  assert.equal(est.largestBuffer.name, "logits");
  const big = { maxBufferSize: 2 ** 30, maxStorageBufferBindingSize: 2 ** 30 };
  checkGpuLimits(est, big);
  assert.throws(
    () => checkGpuLimits(est, { ...big, maxBufferSize: 2 ** 19 }),
    refusal(
      /buffer logits needs 0\.6 MiB, more than this device's maxBufferSize \(0\.5 MiB\).*fewer rows/,
      "ERR_MEMORY",
    ),
  );
  assert.throws(
    () => checkGpuLimits(est, { ...big, maxStorageBufferBindingSize: 2 ** 19 }),
    refusal(/maxStorageBufferBindingSize \(0\.5 MiB\)/, "ERR_MEMORY"),
  );
  // The device got the default limits but the adapter allows more: say to request them.
  assert.throws(
    () => checkGpuLimits(est, { ...big, maxBufferSize: 2 ** 19 }, big),
    refusal(/The adapter allows 1024\.0 MiB: request it/, "ERR_MEMORY"),
  );
});

test("createGpuLoraTrainer refuses before allocating anything: limits, dropout, DoRA, families, formats", async () => {
  // A device whose every method fails: a refusal must come before any of them is called.
  const device = new Proxy(
    { limits: { maxBufferSize: 2 ** 19, maxStorageBufferBindingSize: 2 ** 30 } },
    {
      get: (t, key) => (key in t ? t[key as keyof typeof t] : () => assert.fail(`device.${String(key)} was called`)),
    },
  ) as unknown as GPUDevice;
  const create = (model: Model, rows = 64, seqLen = 64) =>
    createGpuLoraTrainer(device, { model, maxRows: rows, maxSeqLen: seqLen });
  await assert.rejects(create(withLora(randomModel({}, 1))), refusal(/maxBufferSize/, "ERR_MEMORY"));
  await assert.rejects(
    create(withLora(randomModel({}, 1), { loraDropout: 0.1 })),
    refusal(/LoRA dropout 0\.1; WebGPU training needs --dropout 0/),
  );
  await assert.rejects(
    create(withLora(randomModel({}, 1), { method: "dora" })),
    refusal(/has a dora adapter; only LoRA trains on WebGPU/),
  );
  await assert.rejects(create(randomModel({}, 1)), refusal(/no LoRA adapter attached/));
  await assert.rejects(create(withLora(randomModel({ model_type: "qwen3", head_dim: 8 }, 1))), refusal(/q\/k norms/));
  await assert.rejects(
    create(withLora(randomModel({}, 1)), 1, 65),
    refusal(/rows of 65 tokens exceed the 64 positions/),
  );
});

test("checkGpuTrainable: a sliding window shorter than the rows, Gemma's variations, block formats", () => {
  const mistral = withLora(randomModel({ model_type: "mistral", sliding_window: 16 }, 1));
  checkGpuTrainable(mistral, 16); // the window covers every row: plain causal attention
  assert.throws(() => checkGpuTrainable(mistral, 17), refusal(/sliding window of 16 tokens/));
  assert.throws(
    () => checkGpuTrainable(withLora(randomModel({ model_type: "gemma", head_dim: 4 }, 1)), 8),
    refusal(/gemma family is not supported/),
  );
  const q = withLora(randomModelAs("q8_0", { hidden_size: 32, intermediate_size: 32 }));
  assert.throws(() => checkGpuTrainable(q, 8), refusal(/is q8_0; the GPU matmuls read f32 or bf16 weights/));
});
