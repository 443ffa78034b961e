/**
 * Adapter methods are plug-ins: a second method (test/fixtures/in-scale-method.ts, a diagonal scale on each
 * adapted linear's input, registered at runtime, named by no file under src/) attaches by PEFT target matching,
 * passes a finite-difference check of its backward hook, trains through the normal trainer (with activation
 * checkpointing bit-identical to the plain arena), saves as a PEFT-style directory and loads back strictly, runs
 * in KV-cache inference, and merges (merged logits = adapter logits) and unmerges. Also: the registry picks a
 * method by peft_type, and LoRA's fan_in_fan_out comes from the family's weight layout.
 */
import assert from "node:assert/strict";
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { isLoratuneError } from "../../src/errors.ts";
import { readSafetensorsHeader } from "../../src/io/safetensors.ts";
import { refKernels as k } from "../../src/kernels/ref/index.ts";
import { adapterParams, adapterTensors, attachAdapter, attachedAdapter, attachLora } from "../../src/lora/adapter.ts";
import { defaultLoraConfig, type LoraConfig } from "../../src/lora/config.ts";
import { mergeAdapter } from "../../src/lora/merge.ts";
import { loadAdapter, readAdapterConfig, saveAdapter } from "../../src/lora/peft-files.ts";
import { methodForConfig, registeredMethods } from "../../src/lora/registry.ts";
import { activationBytes, allocateActivations } from "../../src/model/activations.ts";
import { assembleModel } from "../../src/model/assemble.ts";
import { parseModelConfig } from "../../src/model/config.ts";
import { createSession, feedTokens } from "../../src/model/infer.ts";
import { initModelTensors } from "../../src/model/init.ts";
import { countLabelTokens, evalLossSum, lossAndGrad } from "../../src/model/loss.ts";
import type { Model } from "../../src/model/model.ts";
import { type Linear, linearBackward, linearForward } from "../../src/nn/linear.ts";
import { Rng } from "../../src/tensor/rng.ts";
import { zeroGrads } from "../../src/tensor/trainable.ts";
import { runTraining } from "../../src/train/trainer.ts";
import { IN_SCALE_PEFT_TYPE, inScale, inScaleConfig } from "../fixtures/in-scale-method.ts";
import { toyConfigJson } from "../fixtures/toy-family.ts";
import { randomInput, randomModel } from "../helpers/random-model.ts";
import { testTrainSettings } from "../helpers/train-settings.ts";

const work = mkdtempSync(join(tmpdir(), "lt-adapter-method-"));
after(() => rmSync(work, { recursive: true, force: true }));

const V = 37;
const input = randomInput(2, 7, V, 5, 3);

function logitsOf(model: Model, inp = input): Float32Array {
  const out = new Float32Array(inp.B * inp.T * V);
  evalLossSum(k, model, allocateActivations(model, inp.B, inp.T, { withGrad: false }), inp, out);
  return out;
}

function maxRelDiff(a: Float32Array, b: Float32Array): number {
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i]! - b[i]!) / Math.max(1, Math.abs(b[i]!)));
  return worst;
}

test("the method is one file: registered at runtime, and nothing under src/ names it", () => {
  assert.ok(registeredMethods().includes("in-scale"));
  assert.equal(methodForConfig({ peft_type: IN_SCALE_PEFT_TYPE }, "x").name, "in-scale");
  assert.equal(methodForConfig({ peft_type: "LORA" }, "x").name, "lora");
  assert.throws(
    () => methodForConfig({ peft_type: "IA3" }, "cfg.json"),
    /cfg\.json: peft_type is "IA3"; only .*"LORA"/,
  );
  const src = join(import.meta.dirname, "..", "..", "src");
  const walk = (dir: string): string[] =>
    readdirSync(dir).flatMap((e) => (statSync(join(dir, e)).isDirectory() ? walk(join(dir, e)) : [join(dir, e)]));
  for (const file of walk(src)) {
    const text = readFileSync(file, "utf8");
    assert.ok(!/in-scale|in_scale|IN_SCALE/.test(text), `${file} names the fixture method`);
  }
});

test("backward hook = finite differences (parameter and input gradients, with a bias)", () => {
  const rng = new Rng(3);
  const nIn = 5;
  const nOut = 4;
  const M = 3;
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
  const adapter = inScale.attach(inScaleConfig({ init: "uniform" }), lin, () => rng.next(), true);
  lin.adapter = adapter;
  const g = adapter.tensors[0]!.data;
  const dg = adapter.tensors[0]!.grad!;
  const x = rand(M * nIn);
  const dy = rand(M * nOut); // loss = Σ y ⊙ dy
  const cache = Object.fromEntries(
    Object.entries(adapter.cacheSizes(true)).map(([name, n]) => [name, new Float32Array(M * n)]),
  );
  const loss = (): number => {
    const y = new Float32Array(M * nOut);
    linearForward(k, y, x, lin, M, cache, null);
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
  for (let i = 0; i < nIn; i++) {
    assert.ok(Math.abs(numeric(g, i) - dg[i]!) < 2e-3 * Math.max(1, Math.abs(dg[i]!)), `dg[${i}]`);
  }
  for (let i = 0; i < M * nIn; i++) {
    assert.ok(Math.abs(numeric(x, i) - dx[i]!) < 2e-3 * Math.max(1, Math.abs(dx[i]!)), `dx[${i}]`);
  }
});

const settings = testTrainSettings();

test("trains through the trainer, saves, loads back strictly, runs in KV-cache inference, merges and unmerges", async () => {
  const model = randomModel({}, 7);
  const config = inScaleConfig();
  const adapted = attachAdapter(model, config, () => 0.5);
  assert.deepEqual(
    adapted.map((l) => l.name),
    [0, 1].flatMap((i) => [`model.layers.${i}.self_attn.v_proj`, `model.layers.${i}.mlp.down_proj`]),
  );
  const params = adapterParams(model);
  assert.deepEqual(
    params.map((p) => [p.name, p.shape]),
    adapted.map((l) => [`base_model.model.${l.name}.in_scale.weight`, [l.inFeatures]]),
  );
  const base = logitsOf(model);
  const data = new Rng(4);
  const examples = Array.from({ length: 4 }, () => {
    const ids = Array.from({ length: 7 }, () => data.nextInt(V));
    return { ids, labels: ids };
  });
  const losses: number[] = [];
  const result = await runTraining({
    kernels: k,
    model,
    params,
    train: examples,
    val: null,
    settings,
    outDir: join(work, "run"),
    fingerprint: "in-scale",
    onEvent: (e) => {
      if (e.type === "step") losses.push(e.loss);
    },
  });
  assert.equal(result.steps, 4);
  assert.ok(losses.at(-1)! < losses[0]!, `the loss went down: ${losses.join(", ")}`);
  assert.ok(
    params.every((p) => p.data.some((v) => v !== 0)),
    "every scale vector trained",
  );
  const trained = logitsOf(model);
  assert.notDeepEqual(trained, base);

  // Saved as a PEFT-style directory with the method's own keys, and loaded back by the registry.
  const dir = join(work, "adapter");
  saveAdapter(dir, model, config, "some-org/base");
  const json = JSON.parse(readFileSync(join(dir, "adapter_config.json"), "utf8"));
  assert.equal(json.peft_type, IN_SCALE_PEFT_TYPE);
  const keys = [...readSafetensorsHeader(join(dir, "adapter_model.safetensors")).tensors.keys()].sort();
  assert.deepEqual(keys, params.map((p) => p.name).sort());
  assert.deepEqual(readAdapterConfig(dir), config);
  const fresh = randomModel({}, 7);
  assert.deepEqual(loadAdapter(dir, fresh), config);
  assert.deepEqual(
    adapterTensors(fresh).map((t) => t.data),
    params.map((p) => p.data),
  );
  assert.deepEqual(logitsOf(fresh), trained, "the loaded adapter computes bit-identical logits");

  // Strict loading through the method's tensor specs: the axes name the dimension that differs.
  let caught: unknown = null;
  try {
    loadAdapter(dir, randomModel({ hidden_size: 32 }, 7));
  } catch (err) {
    caught = err;
  }
  assert.ok(isLoratuneError(caught) && caught.code === "ERR_ADAPTER_KEYS");
  assert.match(caught.message, /adapter was trained on a model with hidden size 16 .*; this model has hidden size 32$/);

  // KV-cache inference shares one scratch set (the method's own buffer names) between linears.
  const T = input.T;
  const row = input.ids.subarray(0, T);
  const full = new Float32Array(T * V);
  const one = { ...input, B: 1, ids: row, targets: input.targets.subarray(0, T), pos: input.pos.subarray(0, T) };
  evalLossSum(k, fresh, allocateActivations(fresh, 1, T, { withGrad: false }), one, full);
  const session = createSession(fresh, T, 3);
  const last = feedTokens(k, session, row);
  assert.ok(maxRelDiff(last, full.subarray((T - 1) * V)) < 1e-5, "KV-cache logits = full forward");

  // Merge: W' = W·diag(1 + g); merged logits = adapter logits; unmerge restores the base.
  const baseWeights = fresh.linears.map((l) => Float32Array.from(l.weight.data as Float32Array));
  const kept = fresh.linears.map((l) => l.adapter);
  assert.equal(mergeAdapter(k, fresh), 4);
  assert.ok(fresh.linears.every((l) => l.adapter === null));
  assert.ok(maxRelDiff(logitsOf(fresh), trained) < 1e-5, "merged logits = adapter logits");
  fresh.linears.forEach((l, i) => {
    l.adapter = kept[i]!;
  });
  mergeAdapter(k, fresh, -1);
  fresh.linears.forEach((l, i) => {
    assert.ok(maxRelDiff(l.weight.data as Float32Array, baseWeights[i]!) < 1e-6, `${l.name} unmerged`);
  });
});

test("activation checkpointing replays the method bit-identically; activationBytes predicts its buffers", () => {
  const model = randomModel({ model_type: "qwen3", head_dim: 8 }, 9);
  const rng = new Rng(2);
  attachAdapter(model, inScaleConfig({ targetModules: "all-linear", init: "uniform" }), () => rng.next());
  const params = adapterParams(model);
  const run = (checkpoint: boolean) => {
    const acts = allocateActivations(model, input.B, input.T, { checkpoint });
    assert.equal(activationBytes(model, input.B, input.T, { checkpoint }), acts.bytes);
    zeroGrads(params);
    const loss = lossAndGrad(k, model, acts, input, 1 / countLabelTokens(input.targets), null);
    return { loss, grads: params.map((p) => Array.from(p.grad)) };
  };
  const plain = run(false);
  const ckpt = run(true);
  assert.equal(ckpt.loss, plain.loss);
  assert.deepEqual(ckpt.grads, plain.grads);
  assert.ok(plain.grads.some((g) => g.some((v) => v !== 0)));
});

test("LoRA's fan_in_fan_out is the family's weight layout: written from the specs, corrected on load as PEFT does", () => {
  // The toy family stores its up projection [in, out] (GPT-2's Conv1D) and its down projection [out, in].
  const toyConfig = parseModelConfig(toyConfigJson());
  const toyModel = () =>
    assembleModel(toyConfig, initModelTensors(toyConfig, { seed: 3, std: 0.3, normJitter: 0.1 }), "f32", "toy");
  const save = (model: Model, targets: string[]) => {
    const config = defaultLoraConfig({ r: 2, targetModules: targets }, model.family);
    attachLora(model, config, () => 0.25);
    const dir = mkdtempSync(join(work, "fifo-"));
    saveAdapter(dir, model, config, null);
    return dir;
  };
  const fanInFanOut = (dir: string) =>
    JSON.parse(readFileSync(join(dir, "adapter_config.json"), "utf8")).fan_in_fan_out;
  const up = save(toyModel(), ["up"]);
  assert.equal(fanInFanOut(up), true);
  assert.equal(fanInFanOut(save(toyModel(), ["down"])), false);
  assert.equal(fanInFanOut(save(toyModel(), ["up", "down"])), false, "mixed: PEFT corrects it per module");
  loadAdapter(up, toyModel());

  // A Llama adapter that says fan_in_fan_out true is corrected as PEFT does: a warning, then the model's layout.
  const llamaDir = save(randomModel(), ["q_proj", "v_proj"]);
  assert.equal(fanInFanOut(llamaDir), false);
  const cfgPath = join(llamaDir, "adapter_config.json");
  writeFileSync(cfgPath, JSON.stringify({ ...JSON.parse(readFileSync(cfgPath, "utf8")), fan_in_fan_out: true }));
  const model = randomModel();
  const warnings: string[] = [];
  const emit = process.emitWarning;
  process.emitWarning = ((message: string | Error) => warnings.push(String(message))) as typeof process.emitWarning;
  try {
    const config = loadAdapter(llamaDir, model) as LoraConfig;
    assert.equal(config.fanInFanOut, false);
  } finally {
    process.emitWarning = emit;
  }
  assert.equal(warnings.length, 1);
  assert.match(
    warnings[0]!,
    /^fan_in_fan_out is set to True but the target module is `torch\.nn\.Linear`\. Setting fan_in_fan_out to False\. \(model\.layers\.0\.self_attn\.q_proj and 3 more\)$/,
  );
  assert.ok(model.linears.some((l) => attachedAdapter(l) !== null));
});

test("default targets come from the family: Llama-style q_proj,v_proj; the toy family's own", () => {
  assert.deepEqual(defaultLoraConfig().targetModules, ["q_proj", "v_proj"]);
  const toyConfig = parseModelConfig(toyConfigJson());
  const toy = assembleModel(toyConfig, initModelTensors(toyConfig, { seed: 1, std: 0.3 }), "f32", "toy");
  assert.deepEqual(defaultLoraConfig({}, toy.family).targetModules, [...toy.family.defaultTargets]);
});
