/**
 * LoRA initialised from the base weight (PiSSA, OLoRA: lora/weight-init.ts) against PyTorch
 * (scripts/golden/init_dump.py, written from the PiSSA and OLoRA papers and PEFT's init_lora_weights):
 * - the initial A, B and residual base weight of every adapted linear, then loss, logits and A/B gradients of one
 *   forward/backward (parity/tiny-pissa, parity/tiny-olora); the initialised model's loss equals the base model's;
 * - five AdamW steps from each init (train/pissa, train/olora): per-step losses, and the adapter as saved
 *   (converted to a plain rank-2r LoRA relative to the original base, as PEFT's
 *   path_initial_model_for_weight_conversion writes it) against the reference's converted adapter;
 * - round trips: the reference's converted adapter loaded by loratune on the original base gives the reference's
 *   loss, and loratune's saved adapter loaded back on the original base gives the trained model's loss.
 */
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { readSafetensors } from "../../src/io/safetensors.ts";
import { getKernels } from "../../src/kernels/index.ts";
import { attachLora, loraParams } from "../../src/lora/adapter.ts";
import { defaultLoraConfig, type InitLoraWeights } from "../../src/lora/config.ts";
import { loadAdapter, saveAdapter } from "../../src/lora/peft-files.ts";
import { allocateActivations } from "../../src/model/activations.ts";
import type { ModelInput } from "../../src/model/forward.ts";
import { loadModel } from "../../src/model/load.ts";
import { countLabelTokens, evalLossSum, lossAndGrad } from "../../src/model/loss.ts";
import type { Model } from "../../src/model/model.ts";
import { zeroGrads } from "../../src/tensor/trainable.ts";
import { ADAMW_DEFAULTS, AdamW } from "../../src/train/adamw.ts";
import { GOLDEN, inputFromRows, readDump } from "./golden-helpers.ts";

const work = mkdtempSync(join(tmpdir(), "lt-weight-init-"));
after(() => rmSync(work, { recursive: true, force: true }));

const TINY = join(GOLDEN, "models", "tiny");
const k = getKernels();

function initModel(init: InitLoraWeights): Model {
  const model = loadModel(TINY);
  const config = defaultLoraConfig({ targetModules: ["q_proj", "v_proj"], initLoraWeights: init });
  attachLora(model, config, () => 0.5);
  return model;
}

function meanLoss(model: Model, input: ModelInput): number {
  const acts = allocateActivations(model, input.B, input.T, { withGrad: false });
  return evalLossSum(k, model, acts, input) / countLabelTokens(input.targets);
}

/** max |got - want| over max |want|: a relative error on the tensor's scale. */
function relErr(got: ArrayLike<number>, want: ArrayLike<number>): number {
  let err = 0;
  let scale = 0;
  for (let i = 0; i < want.length; i++) {
    err = Math.max(err, Math.abs(got[i]! - want[i]!));
    scale = Math.max(scale, Math.abs(want[i]!));
  }
  return err / scale;
}

for (const init of ["pissa", "olora"] as const) {
  test(`${init}: initial A, B, residual weight, loss, logits and gradients match PyTorch`, () => {
    const dump = readDump(`tiny-${init}`) as ReturnType<typeof readDump> & { base_loss: number };
    const golden = readSafetensors(join(GOLDEN, "parity", `tiny-${init}`, "init.safetensors"), "f32");
    const model = initModel(init);
    // PyTorch factors W in f32 (LAPACK sgesdd / sgeqrf), loratune in f64: the singular vectors differ by f32's
    // error over the spectral gaps (measured up to 4e-5 of the tensor's scale), QR by a few ulps.
    const tol = init === "pissa" ? 2e-4 : 1e-5;
    const adapted = model.linears.filter((l) => l.adapter !== null);
    assert.equal(adapted.length, 10);
    for (const lin of adapted) {
      const base = `base_model.model.${lin.name}`;
      const params = loraParams(model).filter((p) => p.name.startsWith(`${base}.`));
      for (const p of params) {
        const e = relErr(p.data, golden.get(p.name)!.data as Float32Array);
        assert.ok(e < tol, `${p.name}: relative error ${e}`);
      }
      const res = golden.get(`${base}.base_layer.weight`)!.data as Float32Array;
      const e = relErr(lin.weight.data as Float32Array, res);
      assert.ok(e < tol, `${lin.name} residual weight: relative error ${e}`);
    }
    const input = inputFromRows(dump.batch.input_ids, dump.batch.labels);
    const params = loraParams(model);
    zeroGrads(params);
    const n = countLabelTokens(input.targets);
    const acts = allocateActivations(model, input.B, input.T, { withGrad: true });
    const loss = lossAndGrad(k, model, acts, input, 1 / n, null) / n;
    assert.ok(Math.abs(loss - dump.loss) <= 1e-5 * dump.loss, `loss ${loss} vs ${dump.loss}`);
    assert.ok(
      Math.abs(loss - dump.base_loss) <= 1e-5 * dump.base_loss,
      `init changes the model: ${loss} vs base ${dump.base_loss}`,
    );
    for (const p of params) {
      const want = dump.lora_grads[p.name]!;
      const l2 = Math.sqrt(p.grad.reduce((s, x) => s + x * x, 0));
      assert.ok(Math.abs(l2 - want.l2) <= 1e-3 * want.l2, `${p.name} grad L2 ${l2} vs ${want.l2}`);
      for (let i = 0; i < 8; i++) {
        assert.ok(
          Math.abs(p.grad[i]! - want.first8[i]!) <= 1e-3 * want.l2,
          `${p.name}[${i}] ${p.grad[i]} vs ${want.first8[i]}`,
        );
      }
    }
    const V = model.config.vocabSize;
    const logits = new Float32Array(input.B * input.T * V);
    evalLossSum(k, model, allocateActivations(model, input.B, input.T, { withGrad: false }), input, logits);
    for (const pos of dump.logits.positions) {
      for (let v = 0; v < 8; v++) {
        const want = dump.logits.first8[String(pos)]![v]!;
        assert.ok(
          Math.abs(logits[pos * V + v]! - want) < 1e-4,
          `logit [0, ${pos}, ${v}] ${logits[pos * V + v]} vs ${want}`,
        );
      }
    }
  });

  test(`${init}: 5 AdamW steps match PyTorch; saved as a plain rank-2r LoRA that reproduces the model on the original base`, () => {
    const rows = readFileSync(join(GOLDEN, "train", "data.jsonl"), "utf8")
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as { input_ids: number[]; labels?: number[] });
    const dir = join(GOLDEN, "train", init);
    const want = JSON.parse(readFileSync(join(dir, "losses.json"), "utf8")).losses as number[];
    const model = initModel(init);
    const params = loraParams(model);
    const opt = new AdamW(params, ADAMW_DEFAULTS);
    const acts = allocateActivations(model, 4, 16, { withGrad: true });
    for (let step = 0; step < 5; step++) {
      const batch = rows.slice(step * 4, step * 4 + 4);
      const input = inputFromRows(
        batch.map((r) => r.input_ids),
        batch.map((r) => r.labels),
      );
      zeroGrads(params);
      const n = countLabelTokens(input.targets);
      const loss = lossAndGrad(k, model, acts, input, 1 / n, null) / n;
      assert.ok(Math.abs(loss - want[step]!) <= 1e-5 * want[step]!, `step ${step + 1}: loss ${loss} vs ${want[step]}`);
      opt.update(k, 1e-3);
    }
    const out = join(work, init);
    saveAdapter(out, model, defaultLoraConfig({ targetModules: ["q_proj", "v_proj"], initLoraWeights: init }), null);
    const config = JSON.parse(readFileSync(join(out, "adapter_config.json"), "utf8"));
    assert.equal(config.r, 16);
    assert.equal(config.lora_alpha, 32);
    assert.equal(config.init_lora_weights, true);
    const saved = readSafetensors(join(out, "adapter_model.safetensors"), "f32");
    const ref = readSafetensors(join(dir, "trained", "adapter_model.safetensors"), "f32");
    assert.deepEqual([...saved.keys()].sort(), [...ref.keys()].sort());
    for (const [name, t] of ref) {
      assert.deepEqual(saved.get(name)!.shape, t.shape, name);
      const e = relErr(saved.get(name)!.data as Float32Array, t.data as Float32Array);
      assert.ok(e < 1e-4, `${name}: relative error ${e} against the reference's converted adapter`);
    }

    const check = JSON.parse(readFileSync(join(dir, "check.json"), "utf8"));
    const dump = readDump("tiny-qv");
    const input = inputFromRows(dump.batch.input_ids, dump.batch.labels);
    const trainedLoss = meanLoss(model, input);
    assert.ok(
      Math.abs(trainedLoss - check.trained_loss) <= 1e-5 * check.trained_loss,
      `${trainedLoss} vs ${check.trained_loss}`,
    );
    for (const adapter of [join(dir, "trained"), out]) {
      const onBase = loadModel(TINY);
      loadAdapter(adapter, onBase);
      const loss = meanLoss(onBase, input);
      assert.ok(
        Math.abs(loss - trainedLoss) <= 1e-5 * trainedLoss,
        `${adapter} on the original base: ${loss} vs trained ${trainedLoss}`,
      );
    }
  });
}
