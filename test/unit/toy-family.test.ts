/**
 * The registry takes a new family without touching other folders: the toy family (test/fixtures/toy-family.ts,
 * modules under `net.blocks.N.`, a transposed up projection with a bias, a ReLU MLP) registers itself at runtime,
 * and loading from a safetensors directory, the forward pass, gradients, LoRA target matching, a LoRA training
 * step through the trainer, saving and loading the adapter, merging and writing the merged model all work.
 */
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { readSafetensors, readSafetensorsHeader } from "../../src/io/safetensors.ts";
import { writeSafetensors } from "../../src/io/safetensors-write.ts";
import { refKernels as k } from "../../src/kernels/ref/index.ts";
import { attachLora, loraParams } from "../../src/lora/adapter.ts";
import { defaultLoraConfig } from "../../src/lora/config.ts";
import { mergeLora } from "../../src/lora/merge.ts";
import { loadAdapter, saveAdapter } from "../../src/lora/peft-files.ts";
import { allocateActivations } from "../../src/model/activations.ts";
import { registerFamily, supportedModelTypes } from "../../src/model/arch/registry.ts";
import { parseModelConfig } from "../../src/model/config.ts";
import type { ModelInput } from "../../src/model/forward.ts";
import { enableFullTraining } from "../../src/model/full-params.ts";
import { initModelTensors } from "../../src/model/init.ts";
import { loadModel } from "../../src/model/load.ts";
import { countLabelTokens, evalLossSum, lossAndGrad } from "../../src/model/loss.ts";
import type { Model } from "../../src/model/model.ts";
import { writeModelFiles } from "../../src/model/save-dir.ts";
import { Rng } from "../../src/tensor/rng.ts";
import type { StoredTensor } from "../../src/tensor/stored-tensor.ts";
import { zeroGrads } from "../../src/tensor/trainable.ts";
import { checkTargets, linearModuleNames } from "../../src/train/preflight.ts";
import { runTraining } from "../../src/train/trainer.ts";
import { toy, toyConfigJson } from "../fixtures/toy-family.ts";
import { randomInput } from "../helpers/random-model.ts";
import { testTrainSettings } from "../helpers/train-settings.ts";

const work = mkdtempSync(join(tmpdir(), "loratune-toy-"));
after(() => rmSync(work, { recursive: true, force: true }));

const config = parseModelConfig(toyConfigJson());
const C = config.hiddenSize;
const F = config.intermediateSize;
const V = config.vocabSize;

/** A toy model directory with random weights (as init makes them: the up projection in the file's [in, out]). */
function writeToyDir(name: string): { dir: string; tensors: Map<string, StoredTensor> } {
  const dir = join(work, name);
  mkdirSync(dir);
  writeFileSync(join(dir, "config.json"), JSON.stringify(toyConfigJson()));
  const tensors = initModelTensors(config, { seed: 3, std: 0.3, normJitter: 0.1, biasStd: 0.1 });
  const toWrite = new Map([...tensors].map(([n, t]) => [n, { dtype: "F32" as const, shape: t.shape, data: t.data }]));
  writeSafetensors(join(dir, "model.safetensors"), toWrite, { format: "pt" });
  return { dir, tensors };
}

const { dir: modelDir, tensors: fileTensors } = writeToyDir("base");
const input = randomInput(2, 6, V, 5, 3);

function logitsOf(model: Model): Float32Array {
  const out = new Float32Array(input.B * input.T * V);
  evalLossSum(k, model, allocateActivations(model, input.B, input.T, { withGrad: false }), input, out);
  return out;
}

/** The toy model computed directly from the file's tensors, in f64 (up stored [in, out]: y_f = Σ_c x_c·W[c, f]). */
function referenceLogits(t: Map<string, StoredTensor>, inp: ModelInput): Float64Array {
  const w = (name: string) => t.get(name)!.data as Float32Array;
  const rmsnorm = (x: Float64Array, g: Float32Array) => {
    const ms = x.reduce((s, v) => s + v * v, 0) / x.length;
    return x.map((v, i) => (v / Math.sqrt(ms + config.normEps)) * g[i]!);
  };
  const emb = w("net.tok.weight");
  const out = new Float64Array(inp.B * inp.T * V);
  for (let row = 0; row < inp.B * inp.T; row++) {
    let x = Float64Array.from(emb.subarray(inp.ids[row]! * C, (inp.ids[row]! + 1) * C));
    for (let l = 0; l < config.numLayers; l++) {
      const p = `net.blocks.${l}`;
      const ln = rmsnorm(x, w(`${p}.norm.weight`));
      const up = w(`${p}.ff.up.weight`); // [C, F]
      const bias = w(`${p}.ff.up.bias`);
      const down = w(`${p}.ff.down.weight`); // [C, F]
      const h = new Float64Array(F).map((_, f) => {
        let s = bias[f]!;
        for (let c = 0; c < C; c++) s += ln[c]! * up[c * F + f]!;
        return Math.max(0, s);
      });
      x = x.map((v, c) => {
        let s = 0;
        for (let f = 0; f < F; f++) s += h[f]! * down[c * F + f]!;
        return v + s;
      });
    }
    const lnf = rmsnorm(x, w("net.norm_f.weight"));
    for (let v = 0; v < V; v++) {
      let s = 0;
      for (let c = 0; c < C; c++) s += lnf[c]! * emb[v * C + c]!;
      out[row * V + v] = s;
    }
  }
  return out;
}

test("a family registered at runtime reads its model_type; a taken model_type is refused", () => {
  assert.ok(supportedModelTypes().includes("toy"));
  assert.equal(config.modelType, "toy");
  registerFamily(toy); // the same record again: fine
  assert.throws(() => registerFamily({ ...toy, name: "other" }), /model_type "toy" is already read by the toy family/);
});

test("loading from a safetensors directory: the transposed weight is transposed; the forward matches a reference", () => {
  const model = loadModel(modelDir);
  assert.equal(model.family, toy);
  assert.equal(model.layers.length, 2);
  assert.equal(model.lmHead, model.embed);
  assert.deepEqual(
    model.linears.map((l) => [l.name, l.outFeatures, l.inFeatures]),
    [
      ["net.blocks.0.ff.up", F, C],
      ["net.blocks.0.ff.down", C, F],
      ["net.blocks.1.ff.up", F, C],
      ["net.blocks.1.ff.down", C, F],
    ],
  );
  const inFile = fileTensors.get("net.blocks.1.ff.up.weight")!;
  assert.deepEqual(inFile.shape, [C, F]);
  const inMemory = model.linears[2]!.weight.data;
  for (let f = 0; f < F; f++) for (let c = 0; c < C; c++) assert.equal(inMemory[f * C + c], inFile.data[c * F + f]);

  const ours = logitsOf(model);
  const ref = referenceLogits(fileTensors, input);
  for (let i = 0; i < ref.length; i++)
    assert.ok(Math.abs(ours[i]! - ref[i]!) < 1e-4, `logit ${i}: ${ours[i]} vs ${ref[i]}`);
});

test("full fine-tuning: parameters named from the specs, gradients match finite differences", () => {
  const model = loadModel(modelDir);
  const params = enableFullTraining(model);
  assert.deepEqual(
    params.map((p) => p.name),
    [
      "net.tok.weight",
      "net.blocks.0.norm.weight",
      "net.blocks.1.norm.weight",
      "net.blocks.0.ff.up.weight",
      "net.blocks.0.ff.up.bias",
      "net.blocks.0.ff.down.weight",
      "net.blocks.1.ff.up.weight",
      "net.blocks.1.ff.up.bias",
      "net.blocks.1.ff.down.weight",
      "net.norm_f.weight",
    ],
  );
  const labels = countLabelTokens(input.targets);
  const meanLoss = () =>
    evalLossSum(k, model, allocateActivations(model, input.B, input.T, { withGrad: false }), input) / labels;
  zeroGrads(params);
  lossAndGrad(k, model, allocateActivations(model, input.B, input.T), input, 1 / labels, null);
  const rng = new Rng(9);
  const dirs = params.map((p) => Float32Array.from(p.grad, () => rng.next() - 0.5));
  const norm = Math.sqrt(dirs.reduce((s, d) => s + d.reduce((a, x) => a + x * x, 0), 0));
  const analytic = params.reduce((s, p, i) => s + p.grad.reduce((a, g, j) => a + (g * dirs[i]![j]!) / norm, 0), 0);
  const eps = 3e-3;
  const shift = (sign: number) =>
    params.forEach((p, i) => {
      for (let j = 0; j < p.data.length; j++) p.data[j]! += (sign * eps * dirs[i]![j]!) / norm;
    });
  shift(1);
  const lp = meanLoss();
  shift(-2);
  const lm = meanLoss();
  shift(1);
  const numeric = (lp - lm) / (2 * eps);
  assert.ok(Math.abs(numeric - analytic) <= 2e-3 * Math.max(1, Math.abs(analytic)) + 2e-4, `${analytic} vs ${numeric}`);
});

test("LoRA targets match by name and by block under net.blocks.N.; preflight lists the toy's linears", () => {
  assert.deepEqual(linearModuleNames(config), [
    "net.blocks.0.ff.up",
    "net.blocks.0.ff.down",
    "net.blocks.1.ff.up",
    "net.blocks.1.ff.down",
  ]);
  const model = loadModel(modelDir);
  const rng = new Rng(1);
  const adapted = attachLora(model, defaultLoraConfig({ targetModules: ["up"], layersToTransform: [1] }), () =>
    rng.next(),
  );
  assert.deepEqual(
    adapted.map((l) => l.name),
    ["net.blocks.1.ff.up"],
  );
  assert.deepEqual(
    checkTargets(defaultLoraConfig({ targetModules: ["up", "down"], layersToTransform: [0] }), config),
    [],
  );
  const typo = checkTargets(defaultLoraConfig({ targetModules: ["up", "donw"] }), config);
  assert.equal(typo[0]?.check, "target_unused");
  assert.match(typo[0]!.message, /did you mean "down"\?.*linear layers are up, down/);
  const none = checkTargets(defaultLoraConfig({ targetModules: ["q_proj", "v_proj"] }), config);
  assert.equal(none[0]?.check, "targets_match_nothing");
  assert.match(none[0]!.message, /Fix: --targets up /);
});

test("a LoRA step through the trainer; the PEFT adapter saves, loads back, merges, and the merged model round-trips", async () => {
  const model = loadModel(modelDir);
  const lora = defaultLoraConfig({ r: 4, targetModules: "all-linear" });
  const rng = new Rng(2);
  attachLora(model, lora, () => rng.next());
  const params = loraParams(model);
  const data = new Rng(4);
  const examples = Array.from({ length: 8 }, () => {
    const ids = Array.from({ length: 7 }, () => data.nextInt(V));
    return { ids, labels: ids };
  });
  const before = logitsOf(model);
  const result = await runTraining({
    kernels: k,
    model,
    params,
    train: examples,
    val: null,
    settings: testTrainSettings({ steps: 3, shuffle: true, lr: 1e-2, maxGradNorm: 1 }),
    outDir: join(work, "run"),
    fingerprint: "toy",
  });
  assert.equal(result.steps, 3);
  assert.ok(Number.isFinite(result.lastLoss));
  const trained = logitsOf(model);
  assert.notDeepEqual(trained, before, "training changed the model's output");

  const adapterDir = join(work, "adapter");
  mkdirSync(adapterDir);
  saveAdapter(adapterDir, model, lora, modelDir);
  const keys = [...readSafetensorsHeader(join(adapterDir, "adapter_model.safetensors")).tensors.keys()].sort();
  assert.deepEqual(
    keys,
    ["0.ff.down", "0.ff.up", "1.ff.down", "1.ff.up"].flatMap((m) =>
      ["lora_A", "lora_B"].map((w) => `base_model.model.net.blocks.${m}.${w}.weight`),
    ),
  );

  const fresh = loadModel(modelDir);
  loadAdapter(adapterDir, fresh);
  assert.deepEqual(logitsOf(fresh), trained);
  assert.equal(mergeLora(k, fresh), 4);
  const merged = logitsOf(fresh);
  for (let i = 0; i < merged.length; i++) assert.ok(Math.abs(merged[i]! - trained[i]!) < 1e-4);

  const out = join(work, "merged");
  mkdirSync(out);
  writeModelFiles(out, fresh, modelDir, "F32");
  const written = readSafetensors(join(out, "model.safetensors"), "f32");
  assert.deepEqual(written.get("net.blocks.0.ff.up.weight")!.shape, [C, F], "written back in the file's layout");
  assert.equal(written.has("net.head.weight"), false, "the tied head is not stored");
  assert.deepEqual(logitsOf(loadModel(out)), merged);
});
