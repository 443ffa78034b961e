/**
 * The GPU-resident LoRA trainer (src/webgpu) against the library's own CPU training path, in headless Chromium on
 * SwiftShader (test/helpers/webgpu/trainer-browser.ts). The CPU side is runTraining (train/trainer.ts) with the
 * process's kernels; its micro-batches and learning rates are recorded and replayed on the GPU, whose model is
 * rebuilt from the same tensors with assembleModel and whose LoRA is attached by attachLora with the same seed.
 * Without chromium or a WebGPU adapter the tests are skipped with the reason.
 *
 * Why the losses cannot agree exactly, and the tolerance: both sides compute in f32, but in other orders (the
 * GPU's 16-wide tiles and 256-wide tree reductions, the CPU's SIMD blocking, or f64 sums in the reference
 * kernels), so every product and row sum differs by a few units of f32 roundoff (u = 2⁻²⁴ ≈ 6e-8) times its
 * length: at most K·u ≈ 4e-5 relative for the longest sums here (K = 704), typically √K·u ≈ 2e-6. The first
 * step's loss is a function of the same weights, so it agrees to that level. Later steps differ by what the
 * updates made of those differences: AdamW divides m by √v, so an element whose gradient is tiny moves by up to
 * lr either way when its sign is at the roundoff level; those elements are few and their effect on the loss is
 * second order. The tolerances below are stated per check, with margins of 10× or more over what was measured
 * (each test prints its largest observed difference).
 */
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import type { Batch } from "../../src/data/batch.ts";
import type { Example } from "../../src/data/encode.ts";
import { getKernels, type Kernels } from "../../src/kernels/index.ts";
import { refKernels } from "../../src/kernels/ref/index.ts";
import { adapterParams, attachLora } from "../../src/lora/adapter.ts";
import { defaultLoraConfig } from "../../src/lora/config.ts";
import { allocateActivations } from "../../src/model/activations.ts";
import { assembleModel } from "../../src/model/assemble.ts";
import { DEMO_MODEL_DIR, loadModel } from "../../src/model/load.ts";
import { lossAndGrad } from "../../src/model/loss.ts";
import type { Model } from "../../src/model/model.ts";
import { convertTensor } from "../../src/model/quantize.ts";
import { Rng } from "../../src/tensor/rng.ts";
import type { StorageDType } from "../../src/tensor/stored-tensor.ts";
import { SftObjective } from "../../src/train/objective.ts";
import { runTraining, type TrainEvent, type TrainSettings } from "../../src/train/trainer.ts";
import { randomTensors, tinyConfig, tinyConfigJson } from "../helpers/random-model.ts";
import { testTrainSettings } from "../helpers/train-settings.ts";
import { packTensors, runGpuTrainer } from "../helpers/webgpu/trainer-browser.ts";
import type { PlainBatch, TrainerRequest, TrainerResult } from "../helpers/webgpu/trainer-request.ts";

const k = getKernels();

/** n examples of random ids (lengths 6–17), the first two labels of every third masked. */
function examples(n: number, vocab: number, seed: number): Example[] {
  const rng = new Rng(seed);
  return Array.from({ length: n }, (_, i) => {
    const len = 6 + rng.nextInt(12);
    const ids = Array.from({ length: len }, () => rng.nextInt(vocab));
    const labels = ids.map((id, t) => (i % 3 === 0 && t < 2 ? -100 : id));
    return { ids, labels };
  });
}

const plain = (b: Batch): PlainBatch => ({
  B: b.B,
  T: b.T,
  ids: Array.from(b.ids),
  targets: Array.from(b.targets),
  pos: Array.from(b.pos),
  seg: b.seg ? Array.from(b.seg) : null,
  nLabelTokens: b.nLabelTokens,
});

interface Case {
  /** config.json for the model, and its tensors, or the demo model. */
  model: () => { config: Record<string, unknown>; model: Model };
  dtype: StorageDType;
  lora: TrainerRequest["lora"];
  settings: TrainSettings;
  data: Example[];
  /** The CPU run's kernels (default: the process's, native when built). */
  kernels?: Kernels;
}

/** The CPU run through runTraining, recording each step's micro-batches, lr, loss and norm; and the GPU request. */
async function cpuRun(c: Case) {
  const { config, model } = c.model();
  const { slices, bytes } = packTensors(model);
  const seed = c.settings.seed;
  const rng = new Rng(seed);
  attachLora(model, defaultLoraConfig({ ...c.lora, loraDropout: 0 }), () => rng.next());
  const params = adapterParams(model);
  const sft = new SftObjective(c.data, null, c.settings, 0);
  const micro: Batch[][] = [];
  const objective = {
    rows: sft.rows,
    valBatches: null,
    epochBatches: (e: number) => sft.epochBatches(e),
    step: (...a: Parameters<SftObjective["step"]>) => {
      micro.push(a[3]);
      return sft.step(...a);
    },
    evaluate: (...a: Parameters<SftObjective["evaluate"]>) => sft.evaluate(...a),
  };
  const events: TrainEvent[] = [];
  const outDir = mkdtempSync(join(tmpdir(), "lt-gpu-trainer-"));
  const started = performance.now();
  try {
    await runTraining({
      kernels: c.kernels ?? k,
      model,
      params,
      train: c.data,
      val: null,
      objective,
      settings: c.settings,
      outDir,
      fingerprint: "gpu-test",
      onEvent: (e) => events.push(e),
    });
  } finally {
    rmSync(outDir, { recursive: true, force: true });
  }
  const cpuSeconds = (performance.now() - started) / 1000;
  const steps = events.flatMap((e) => (e.type === "step" ? [e] : []));
  const s = c.settings;
  const req: TrainerRequest = {
    config,
    tensors: slices,
    dtype: c.dtype as "f32" | "bf16",
    lora: c.lora,
    seed,
    maxRows: s.batchSize,
    maxSeqLen: s.seqLen,
    optimizer: { beta1: s.beta1, beta2: s.beta2, eps: s.adamEps, weightDecay: s.weightDecay },
    maxGradNorm: s.maxGradNorm,
    mode: "train",
    steps: steps.map((e, i) => ({ micro: micro[i]!.map(plain), lr: e.lr })),
  };
  const adapter = new Map(params.map((p) => [p.name, p.data]));
  return { req, bytes, steps, adapter, cpuSeconds, tokens: steps.reduce((n, e) => Math.max(n, e.tokens), 0) };
}

/** The largest relative difference of the losses, step by step. */
function lossDiffs(cpu: number[], gpu: number[]): number[] {
  assert.equal(gpu.length, cpu.length, "steps");
  return cpu.map((l, i) => Math.abs(gpu[i]! - l) / Math.abs(l));
}

/** ‖gpu − cpu‖ / ‖cpu‖ per tensor (an all-zero tensor must be zero on both sides). */
function tensorDiffs(cpu: Map<string, Float32Array>, gpu: Record<string, number[]>): Map<string, number> {
  const out = new Map<string, number>();
  for (const [name, want] of cpu) {
    const got = gpu[name];
    assert.ok(got, `the GPU trainer has no ${name}`);
    assert.equal(got.length, want.length, `${name}: length`);
    let d = 0;
    let n = 0;
    for (let i = 0; i < want.length; i++) {
      d += (got[i]! - want[i]!) ** 2;
      n += want[i]! ** 2;
    }
    out.set(name, n === 0 ? Math.sqrt(d) : Math.sqrt(d / n));
  }
  assert.deepEqual(Object.keys(gpu).sort(), [...cpu.keys()].sort(), "the same tensors by PEFT key");
  return out;
}

const maxOf = (xs: Iterable<number>) => Math.max(...xs);

/** A small random Llama: odd widths (head 12, hidden 48, intermediate 72, vocabulary 97), GQA 4/2, 2 layers. */
const SMALL = {
  hidden_size: 48,
  num_attention_heads: 4,
  num_key_value_heads: 2,
  intermediate_size: 72,
  vocab_size: 97,
};

/** The small model with its 2-D weights stored as `dtype` (as loadModel converts them; norms stay f32). */
function smallModel(dtype: StorageDType, tie: boolean) {
  const config = tinyConfigJson({ ...SMALL, tie_word_embeddings: tie });
  const c = tinyConfig({ ...SMALL, tie_word_embeddings: tie });
  const tensors = new Map(
    [...randomTensors(c, 7, 0.1)].map(([name, t]) => [name, t.shape.length === 2 ? convertTensor(k, t, dtype) : t]),
  );
  const model = assembleModel(c, tensors, dtype, "random-model");
  assert.ok(model.linears.every((l) => l.weight.dtype === dtype) && model.embed.dtype === dtype, `weights in ${dtype}`);
  return { config, model };
}

function demoModel() {
  const model = loadModel(DEMO_MODEL_DIR);
  return { config: demoConfigJson(), model };
}

function demoConfigJson(): Record<string, unknown> {
  return JSON.parse(readFileSync(join(DEMO_MODEL_DIR, "config.json"), "utf8")) as Record<string, unknown>;
}

async function trainBoth(c: Case): Promise<{ cpu: Awaited<ReturnType<typeof cpuRun>>; gpu: TrainerResult } | string> {
  const cpu = await cpuRun(c);
  const gpu = await runGpuTrainer(cpu.req, cpu.bytes);
  if (typeof gpu === "string") return gpu;
  return { cpu, gpu };
}

test("GPU trainer = CPU trainer step by step on a small random Llama (all-linear, packed, accumulation, clipping, decay, cosine warmup)", async (t) => {
  const settings = testTrainSettings({
    steps: 30,
    batchSize: 3,
    gradAccum: 2,
    seqLen: 24,
    pack: true,
    shuffle: true,
    seed: 11,
    lr: 2e-2,
    lrSchedule: "cosine",
    warmupSteps: 3,
    weightDecay: 0.01,
    maxGradNorm: 1,
  });
  const r = await trainBoth({
    model: () => smallModel("f32", false),
    dtype: "f32",
    lora: { r: 4, loraAlpha: 8, targetModules: "all-linear" },
    settings,
    data: examples(40, 97, 3),
  });
  if (typeof r === "string") return t.skip(r);
  const losses = lossDiffs(
    r.cpu.steps.map((e) => e.loss),
    r.gpu.losses,
  );
  const norms = lossDiffs(
    r.cpu.steps.map((e) => e.gradNorm),
    r.gpu.gradNorms,
  );
  const adapter = tensorDiffs(r.cpu.adapter, r.gpu.tensors);
  t.diagnostic(
    `max relative loss difference ${maxOf(losses).toExponential(2)}, first step ${losses[0]!.toExponential(2)}`,
  );
  t.diagnostic(`max relative grad-norm difference ${maxOf(norms).toExponential(2)}`);
  t.diagnostic(`max relative adapter difference ${maxOf(adapter.values()).toExponential(2)}`);
  assert.deepEqual(r.gpu.names, [...r.cpu.adapter.keys()], "the CPU trainer's parameter order");
  assert.ok(losses[0]! <= 1e-5, `first step: relative loss difference ${losses[0]}`);
  losses.forEach((d, i) => {
    assert.ok(d <= 1e-4, `step ${i + 1}: relative loss difference ${d}`);
  });
  norms.forEach((d, i) => {
    assert.ok(d <= 1e-3, `step ${i + 1}: relative grad-norm difference ${d}`);
  });
  for (const [name, d] of adapter) assert.ok(d <= 1e-3, `${name}: relative difference ${d}`);
});

test("GPU gradients of every LoRA A and B = the CPU's lossAndGrad on one packed batch (B initialised non-zero)", async (t) => {
  const { config, model } = smallModel("f32", true);
  const { slices, bytes } = packTensors(model);
  const lora = { r: 4, loraAlpha: 8, targetModules: "all-linear", initLoraWeights: false };
  const seed = 5;
  const rng = new Rng(seed);
  attachLora(model, defaultLoraConfig({ ...lora, loraDropout: 0 }), () => rng.next());
  const params = adapterParams(model);
  const s = { batchSize: 3, seqLen: 24, pack: true, shuffle: false, seed };
  const batch = new SftObjective(examples(12, 97, 9), null, s, 0).epochBatches(0)[0]!;
  for (const p of params) p.grad.fill(0);
  const acts = allocateActivations(model, batch.B, batch.T, { checkpoint: false });
  const cpuLoss = lossAndGrad(k, model, acts, batch, 1 / batch.nLabelTokens, null) / batch.nLabelTokens;
  const gpu = await runGpuTrainer(
    {
      config,
      tensors: slices,
      dtype: "f32",
      lora,
      seed,
      maxRows: batch.B,
      maxSeqLen: batch.T,
      optimizer: { beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0 },
      maxGradNorm: 0,
      mode: "gradients",
      steps: [{ micro: [plain(batch)], lr: 0 }],
    },
    bytes,
  );
  if (typeof gpu === "string") return t.skip(gpu);
  const grads = new Map(params.map((p) => [p.name, p.grad]));
  const diffs = tensorDiffs(grads, gpu.tensors);
  const lossDiff = Math.abs(gpu.losses[0]! - cpuLoss) / cpuLoss;
  t.diagnostic(`loss ${cpuLoss}: relative difference ${lossDiff.toExponential(2)}`);
  t.diagnostic(`max relative gradient difference ${maxOf(diffs.values()).toExponential(2)}`);
  assert.ok(lossDiff <= 1e-5, `loss: relative difference ${lossDiff}`);
  // Every tensor has a gradient worth comparing (B non-zero, so the A gradients are too).
  for (const [name, g] of grads)
    assert.ok(
      g.some((v) => v !== 0),
      `${name}: the CPU gradient is all zero`,
    );
  // One forward + backward in f32 in other summation orders: each gradient is a few sums of products of length
  // ≤ max(C, F, V, N) = 97, so its relative error is a few K·u ≈ 1e-5 at worst; 1e-4 per tensor (in norm).
  for (const [name, d] of diffs) assert.ok(d <= 1e-4, `${name}: relative difference ${d}`);
});

// The reference kernels: like the GPU's, they widen bf16 weights exactly and keep the activations in f32. The native
// avx512 kernels round the activations to bf16 for vdpbf16ps (kernels-native-matmul-bf16.test.ts), a difference of
// bf16 rounding (2⁻⁹ relative per product), not of summation order, so they are not the reference here.
test("GPU trainer = CPU trainer (reference kernels) with bf16 base weights and an untied head (the default q,v targets, rsLoRA)", async (t) => {
  const settings = testTrainSettings({ steps: 12, batchSize: 2, seqLen: 20, seed: 3, lr: 1e-2 });
  const r = await trainBoth({
    kernels: refKernels,
    model: () => smallModel("bf16", false),
    dtype: "bf16",
    lora: { r: 4, loraAlpha: 16, targetModules: ["q_proj", "v_proj"], useRslora: true },
    settings,
    data: examples(30, 97, 5),
  });
  if (typeof r === "string") return t.skip(r);
  const losses = lossDiffs(
    r.cpu.steps.map((e) => e.loss),
    r.gpu.losses,
  );
  const adapter = tensorDiffs(r.cpu.adapter, r.gpu.tensors);
  t.diagnostic(`max relative loss difference ${maxOf(losses).toExponential(2)}`);
  t.diagnostic(`max relative adapter difference ${maxOf(adapter.values()).toExponential(2)}`);
  assert.ok(
    r.gpu.names.every((n) => /\.(q_proj|v_proj)\.lora_[AB]\.weight$/.test(n)),
    "q_proj and v_proj only",
  );
  // bf16 weights are widened exactly on both sides: the same f32 arithmetic as the f32 case.
  losses.forEach((d, i) => {
    assert.ok(d <= 1e-4, `step ${i + 1}: relative loss difference ${d}`);
  });
  for (const [name, d] of adapter) assert.ok(d <= 1e-3, `${name}: relative difference ${d}`);
});

test("GPU trainer = CPU trainer on the bundled demo model (LlamaForCausalLM 256/4 layers, q,v, r 8, alpha 16)", async (t) => {
  const settings = testTrainSettings({ steps: 10, batchSize: 2, seqLen: 32, seed: 42, lr: 1e-3, shuffle: true });
  const r = await trainBoth({
    model: demoModel,
    dtype: "f32",
    lora: { r: 8, loraAlpha: 16, targetModules: ["q_proj", "v_proj"] },
    settings,
    data: examples(24, 1024, 8),
  });
  if (typeof r === "string") return t.skip(r);
  const losses = lossDiffs(
    r.cpu.steps.map((e) => e.loss),
    r.gpu.losses,
  );
  const adapter = tensorDiffs(r.cpu.adapter, r.gpu.tensors);
  const tokens = r.cpu.steps.at(-1)!.tokens;
  t.diagnostic(`max relative loss difference ${maxOf(losses).toExponential(2)}`);
  t.diagnostic(`max relative adapter difference ${maxOf(adapter.values()).toExponential(2)}`);
  t.diagnostic(
    `${tokens} tokens: CPU (${process.env.LORATUNE_BACKEND ?? "default"} kernels) ${(tokens / r.cpu.cpuSeconds).toFixed(1)} tokens/s, ` +
      `GPU trainer on SwiftShader ${(tokens / r.gpu.stepSeconds).toFixed(1)} tokens/s`,
  );
  // K ≤ 1024 (the vocabulary) here: K·u ≈ 6e-5 at worst per sum, √K·u ≈ 2e-6 typically; 1e-4 holds 10×
  // over what was measured.
  losses.forEach((d, i) => {
    assert.ok(d <= 1e-4, `step ${i + 1}: relative loss difference ${d}`);
  });
  for (const [name, d] of adapter) assert.ok(d <= 1e-3, `${name}: relative difference ${d}`);
});
