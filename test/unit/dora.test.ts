/**
 * DoRA (PEFT's use_dora): the hooks' backward against finite differences with the weight norm held (PEFT detaches
 * it), with and without dropout, and through whole models on f32 and quantized bases; the norm from ‖W‖², A·Wᵀ
 * and A·Aᵀ equals the materialised ‖W + s·B·A‖; a fresh adapter is the identity; merged logits = adapter logits
 * within 1e-5 and unmerge restores W; PEFT's keys and config (lora_magnitude_vector, use_dora) and a strict
 * save/load round trip; it trains through the trainer.
 */
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { readSafetensorsHeader } from "../../src/io/safetensors.ts";
import { refKernels as k } from "../../src/kernels/ref/index.ts";
import { adapterParams, adapterTensors, attachAdapter, attachedAdapter } from "../../src/lora/adapter.ts";
import { defaultLoraConfig, type LoraConfig } from "../../src/lora/config.ts";
import { mergeAdapter } from "../../src/lora/merge.ts";
import { DoraAdapter, dora } from "../../src/lora/methods/dora.ts";
import { loadAdapter, readAdapterConfig, saveAdapter } from "../../src/lora/peft-files.ts";
import { methodForConfig } from "../../src/lora/registry.ts";
import { activationBytes, allocateActivations } from "../../src/model/activations.ts";
import { assembleModel } from "../../src/model/assemble.ts";
import { createSession, feedTokens } from "../../src/model/infer.ts";
import { loadModel } from "../../src/model/load.ts";
import { countLabelTokens, evalLossSum, lossAndGrad } from "../../src/model/loss.ts";
import type { Model } from "../../src/model/model.ts";
import { quantizeLinears } from "../../src/model/quantize.ts";
import { type Linear, linearBackward, linearForward } from "../../src/nn/linear.ts";
import { Rng } from "../../src/tensor/rng.ts";
import { zeroGrads } from "../../src/tensor/trainable.ts";
import { runTraining } from "../../src/train/trainer.ts";
import { GOLDEN } from "../helpers/cli.ts";
import { checkDirectional } from "../helpers/gradcheck.ts";
import { randomInput, randomModel, randomTensors, tinyConfig } from "../helpers/random-model.ts";
import { testTrainSettings } from "../helpers/train-settings.ts";

const work = mkdtempSync(join(tmpdir(), "lt-dora-"));
after(() => rmSync(work, { recursive: true, force: true }));

const V = 37;
const input = randomInput(2, 7, V, 5, 3);

function doraConfig(overrides: Partial<LoraConfig> = {}): LoraConfig {
  return defaultLoraConfig({ method: "dora", r: 3, loraAlpha: 6, ...overrides });
}

function logitsOf(model: Model, inp = input): Float32Array {
  const out = new Float32Array(inp.B * inp.T * model.config.vocabSize);
  evalLossSum(k, model, allocateActivations(model, inp.B, inp.T, { withGrad: false }), inp, out);
  return out;
}

function maxRelDiff(a: Float32Array, b: Float32Array): number {
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i]! - b[i]!) / Math.max(1, Math.abs(b[i]!)));
  return worst;
}

/** B and m away from their init (B = 0, m = ‖W‖), so every term of DoRA's forward and backward is exercised. */
function perturb(model: Model, seed: number, size = 0.3): void {
  const rng = new Rng(seed);
  for (const t of adapterTensors(model)) {
    for (let i = 0; i < t.data.length; i++) {
      t.data[i] = t.name.endsWith("lora_magnitude_vector")
        ? t.data[i]! * (0.7 + 0.6 * rng.next())
        : t.data[i]! + size * (rng.next() - 0.5);
    }
  }
}

for (const p of [0, 0.3]) {
  test(`hooks: backward = finite differences with the norm held (dropout ${p}, with a bias)`, () => {
    const rng = new Rng(3);
    const [nIn, nOut, M] = [5, 4, 3];
    const rand = (n: number) => Float32Array.from({ length: n }, () => rng.next() * 2 - 1);
    const lin: Linear = {
      name: "blk.0.proj",
      inFeatures: nIn,
      outFeatures: nOut,
      weight: { dtype: "f32", shape: [nOut, nIn], data: rand(nOut * nIn) },
      bias: rand(nOut),
      dWeight: null,
      dBias: null,
      adapter: null,
    };
    const adapter = dora.attach(
      doraConfig({ r: 2, loraDropout: p, initLoraWeights: false }),
      lin,
      () => rng.next(),
      true,
    );
    assert.ok(adapter instanceof DoraAdapter);
    lin.adapter = adapter;
    for (let o = 0; o < nOut; o++) adapter.m[o]! *= 0.5 + rng.next();
    const x = rand(M * nIn);
    const dy = rand(M * nOut); // loss = Σ y ⊙ dy
    const cache = Object.fromEntries(
      Object.entries(adapter.cacheSizes(true)).map(([name, n]) => [name, new Float32Array(M * n)]),
    );
    const y0 = new Float32Array(M * nOut);
    linearForward(k, y0, x, lin, M, cache, () => rng.next()); // draws the dropout masks (when p > 0)
    adapter.holdNorm = true;
    const loss = (): number => {
      const y = new Float32Array(M * nOut);
      linearForward(k, y, x, lin, M, cache, "replay");
      return y.reduce((s, v, i) => s + v * dy[i]!, 0);
    };
    loss();
    const dx = new Float32Array(M * nIn);
    linearBackward(k, dx, dy, x, lin, M, cache, new Float32Array(M * adapter.scratchPerRow), false);
    const eps = 1e-2;
    const numeric = (v: Float32Array, i: number): number => {
      const keep = v[i]!;
      v[i] = keep + eps;
      const up = loss();
      v[i] = keep - eps;
      const down = loss();
      v[i] = keep;
      return (up - down) / (2 * eps);
    };
    const check = (what: string, v: Float32Array, grad: Float32Array) => {
      for (let i = 0; i < v.length; i++) {
        const n = numeric(v, i);
        assert.ok(Math.abs(n - grad[i]!) < 2e-3 * Math.max(1, Math.abs(grad[i]!)), `${what}[${i}]: ${grad[i]} vs ${n}`);
      }
    };
    for (const t of adapter.tensors) check(t.name, t.data, t.grad!);
    check("dx", x, dx);
  });
}

test("the norm from ‖W‖², A·Wᵀ and A·Aᵀ is the materialised ‖W + s·B·A‖ per row", () => {
  const model = randomModel({}, 2);
  attachAdapter(model, doraConfig({ initLoraWeights: false }), () => new Rng(1).next());
  perturb(model, 4);
  for (const lin of model.linears.filter((l) => l.adapter)) {
    const a = attachedAdapter(lin) as DoraAdapter;
    a.refreshNorm(k, lin);
    const w = Float32Array.from(lin.weight.data as Float32Array);
    const ba = new Float32Array(w.length);
    k.matmulNN(ba, a.B, a.A, a.nOut, a.nIn, a.r, false);
    for (let o = 0; o < a.nOut; o++) {
      let sq = 0;
      for (let i = 0; i < a.nIn; i++) sq += (w[o * a.nIn + i]! + a.scale * ba[o * a.nIn + i]!) ** 2;
      assert.ok(Math.abs(a.norm[o]! - Math.sqrt(sq)) < 1e-5 * Math.sqrt(sq), `${lin.name} row ${o}`);
    }
  }
});

test("a fresh DoRA adapter leaves the model unchanged (m = ‖W‖, B = 0); the registry reads use_dora", () => {
  const model = randomModel({}, 3);
  const base = logitsOf(model);
  attachAdapter(model, doraConfig(), () => 0.25);
  assert.ok(maxRelDiff(logitsOf(model), base) < 1e-6);
  assert.equal(methodForConfig({ peft_type: "LORA", use_dora: true }, "x").name, "dora");
  assert.equal(methodForConfig({ peft_type: "LORA", use_dora: false }, "x").name, "lora");
});

test("whole-model gradients = finite differences (norm held), on f32 and q8_0 bases, with rank_pattern", () => {
  const model = randomModel({}, 5);
  const rng = new Rng(7);
  attachAdapter(
    model,
    doraConfig({ targetModules: "all-linear", initLoraWeights: false, rankPattern: { o_proj: 2 } }),
    () => rng.next(),
  );
  perturb(model, 8, 0.1); // larger moves make this model so curved that the central difference at ε 3e-3 is off
  logitsOf(model); // computes each norm once
  for (const l of model.linears) if (l.adapter) (l.adapter as DoraAdapter).holdNorm = true;
  checkDirectional(model, adapterParams(model), input, 5);

  const config = tinyConfig({ hidden_size: 256, intermediate_size: 256, num_hidden_layers: 1 });
  const q = assembleModel(config, randomTensors(config, 3, 0.05), "f32", "random-model");
  quantizeLinears(k, q, "q8_0");
  assert.ok(q.linears.every((l) => l.weight.dtype === "q8_0"));
  attachAdapter(q, doraConfig({ targetModules: "all-linear", initLoraWeights: false }), () => rng.next());
  for (const p of adapterParams(q))
    if (p.name.includes("lora_")) for (let i = 0; i < p.data.length; i++) p.data[i]! *= 0.1;
  const qInput = randomInput(2, 5, config.vocabSize, 11, 3);
  logitsOf(q, qInput);
  for (const l of q.linears) if (l.adapter) (l.adapter as DoraAdapter).holdNorm = true;
  checkDirectional(q, adapterParams(q), qInput, 5);
});

test("trains, saves in PEFT's keys, loads back strictly, merges (= adapter logits within 1e-5) and unmerges", async () => {
  const model = randomModel({}, 7);
  const config = doraConfig({ targetModules: ["q_proj", "v_proj", "down_proj"] });
  const rng = new Rng(2);
  attachAdapter(model, config, () => rng.next());
  const params = adapterParams(model);
  const data = new Rng(4);
  const examples = Array.from({ length: 4 }, () => {
    const ids = Array.from({ length: 7 }, () => data.nextInt(V));
    return { ids, labels: ids };
  });
  const mags = params.filter((p) => p.name.endsWith("lora_magnitude_vector")).map((p) => Float32Array.from(p.data));
  const losses: number[] = [];
  await runTraining({
    kernels: k,
    model,
    params,
    train: examples,
    val: null,
    settings: testTrainSettings(),
    outDir: join(work, "run"),
    fingerprint: "dora",
    onEvent: (e) => {
      if (e.type === "step") losses.push(e.loss);
    },
  });
  assert.ok(losses.at(-1)! < losses[0]!, `the loss went down: ${losses.join(", ")}`);
  const trainedMags = params.filter((p) => p.name.endsWith("lora_magnitude_vector"));
  assert.ok(
    trainedMags.every((p, i) => p.data.some((v, j) => v !== mags[i]![j])),
    "every magnitude vector trained",
  );
  const trained = logitsOf(model);

  const dir = join(work, "adapter");
  saveAdapter(dir, model, config, "some-org/base");
  const json = JSON.parse(readFileSync(join(dir, "adapter_config.json"), "utf8"));
  assert.equal(json.peft_type, "LORA");
  assert.equal(json.use_dora, true);
  const keys = [...readSafetensorsHeader(join(dir, "adapter_model.safetensors")).tensors.keys()].sort();
  assert.ok(keys.includes("base_model.model.model.layers.0.self_attn.q_proj.lora_magnitude_vector"));
  assert.ok(keys.includes("base_model.model.model.layers.1.mlp.down_proj.lora_B.weight"));
  assert.deepEqual(keys, params.map((p) => p.name).sort());
  // As written: the model's fan_in_fan_out and sorted targets.
  const written = { ...config, fanInFanOut: false, targetModules: ["down_proj", "q_proj", "v_proj"] };
  assert.deepEqual(readAdapterConfig(dir), written);
  const fresh = randomModel({}, 7);
  assert.deepEqual(loadAdapter(dir, fresh), written);
  assert.deepEqual(logitsOf(fresh), trained, "the loaded adapter computes bit-identical logits");

  const baseWeights = fresh.linears.map((l) => Float32Array.from(l.weight.data as Float32Array));
  const kept = fresh.linears.map((l) => l.adapter);
  assert.equal(mergeAdapter(k, fresh), 6);
  const merged = logitsOf(fresh);
  assert.ok(maxRelDiff(merged, trained) < 1e-5, `merged logits = adapter logits (${maxRelDiff(merged, trained)})`);
  fresh.linears.forEach((l, i) => {
    l.adapter = kept[i]!;
  });
  mergeAdapter(k, fresh, -1);
  fresh.linears.forEach((l, i) => {
    assert.ok(maxRelDiff(l.weight.data as Float32Array, baseWeights[i]!) < 1e-6, `${l.name} unmerged`);
  });
});

test("with dropout: checkpointing replays bit-identically; KV-cache inference = full forward; bf16 base merges", () => {
  const model = randomModel({ model_type: "qwen3", head_dim: 8 }, 9);
  const rng = new Rng(2);
  attachAdapter(model, doraConfig({ targetModules: "all-linear", loraDropout: 0.2, initLoraWeights: false }), () =>
    rng.next(),
  );
  perturb(model, 3, 0.1);
  const params = adapterParams(model);
  const run = (checkpoint: boolean) => {
    const acts = allocateActivations(model, input.B, input.T, { checkpoint });
    assert.equal(activationBytes(model, input.B, input.T, { checkpoint }), acts.bytes);
    zeroGrads(params);
    const drop = new Rng(11);
    const loss = lossAndGrad(k, model, acts, input, 1 / countLabelTokens(input.targets), () => drop.next());
    return { loss, grads: params.map((p) => Array.from(p.grad)) };
  };
  const plain = run(false);
  const ckpt = run(true);
  assert.equal(ckpt.loss, plain.loss);
  assert.deepEqual(ckpt.grads, plain.grads);
  assert.ok(plain.grads.every((g) => g.some((v) => v !== 0)));

  // KV-cache decoding shares one scratch set between linears (and reuses each norm: A and B do not change).
  const T = input.T;
  const row = input.ids.subarray(0, T);
  const one = { ...input, B: 1, ids: row, targets: input.targets.subarray(0, T), pos: input.pos.subarray(0, T) };
  const full = logitsOf(model, one);
  const session = createSession(model, T, 3);
  const last = feedTokens(k, session, row);
  assert.ok(maxRelDiff(last, full.subarray((T - 1) * V, T * V)) < 1e-5, "KV-cache logits = full forward");

  // A bf16 base: the norm from the bf16 weight; merged (f32 math, written back as bf16) ≈ adapter logits.
  const bf = loadModel(join(GOLDEN, "models", "tiny"), { dtype: "bf16" });
  assert.ok(bf.linears.every((l) => l.weight.dtype === "bf16"));
  attachAdapter(bf, doraConfig({ initLoraWeights: false }), () => rng.next());
  perturb(bf, 5, 0.1);
  const adapted = logitsOf(bf);
  mergeAdapter(k, bf);
  assert.ok(maxRelDiff(logitsOf(bf), adapted) < 2e-2, "bf16 merged ≈ adapter logits (bf16 rounding of W')");
});
