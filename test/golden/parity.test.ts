/**
 * loratune against the PyTorch reference (HF Llama + PEFT semantics): loss, logits and every LoRA gradient for
 * tiny models of each family (GQA tied, Llama-3 RoPE untied, Qwen2 biases, Qwen3 q/k norms), all-linear targets,
 * rsLoRA, masked labels, and DoRA (tiny-dora: the tiny-qv adapter with magnitude vectors, by the reference's
 * dora_dump.py; unmerged and merged), and a DoRA adapter loratune trained and saved, loaded by the reference
 * (tiny-dora-loratune), and PEFT's rank_pattern / alpha_pattern / layers_to_transform with layers_pattern
 * (tiny-patterns, scripts/golden/pattern_dump.py: per-module ranks and scales, blocks 0 and 2 only). Tolerances: logits 1e-4 absolute, loss 1e-5 relative, gradients 1e-3
 * relative.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { test } from "node:test";
import { getKernels } from "../../src/kernels/index.ts";
import { refKernels } from "../../src/kernels/ref/index.ts";
import { loraParams } from "../../src/lora/adapter.ts";
import { mergeAdapter } from "../../src/lora/merge.ts";
import { loadAdapter } from "../../src/lora/peft-files.ts";
import { allocateActivations } from "../../src/model/activations.ts";
import { loadModel } from "../../src/model/load.ts";
import { evalLossSum, lossAndGrad } from "../../src/model/loss.ts";
import { zeroGrads } from "../../src/tensor/trainable.ts";
import { GOLDEN, inputFromRows, readDump } from "./golden-helpers.ts";

const cases: [string, string][] = [
  ["tiny-qv", "tiny"],
  ["tiny-llama3-qv", "tiny-llama3"],
  ["tiny-qwen2-qv", "tiny-qwen2"],
  ["tiny-qwen3-qv", "tiny-qwen3"],
  ["tiny-all-linear", "tiny"],
  ["tiny-rslora", "tiny"],
  ["tiny-masked", "tiny"],
  ["tiny-dora", "tiny"],
  ["tiny-dora-loratune", "tiny"],
  ["tiny-patterns", "tiny"],
];

const l2 = (a: Float32Array) => Math.sqrt(a.reduce((s, x) => s + x * x, 0));

for (const kernels of new Set([refKernels, getKernels()])) {
  for (const [name, modelName] of cases) {
    test(`${name} matches PyTorch (${kernels.name} kernels)`, () => {
      const dump = readDump(name);
      const model = loadModel(join(GOLDEN, "models", modelName));
      loadAdapter(join(GOLDEN, "parity", name, "adapter"), model, true);
      const input = inputFromRows(dump.batch.input_ids, dump.batch.labels);
      const V = model.config.vocabSize;
      const { B, T } = input;

      const logits = new Float32Array(B * T * V);
      const acts = allocateActivations(model, B, T, { withGrad: true });
      const evalSum = evalLossSum(kernels, model, acts, input, logits);
      for (const p of dump.logits.positions) {
        const want = dump.logits.first8[String(p)]!;
        for (let v = 0; v < 8; v++) {
          assert.ok(
            Math.abs(logits[p * V + v]! - want[v]!) < 1e-4,
            `logit [0, ${p}, ${v}]: ${logits[p * V + v]} vs ${want[v]}`,
          );
        }
      }
      let sum = 0;
      for (let i = 0; i < T * V; i++) sum += logits[i]!;
      assert.ok(
        Math.abs(sum - dump.logits.seq0_sum) < 1e-4 * T * V ** 0.5,
        `seq0 logit sum ${sum} vs ${dump.logits.seq0_sum}`,
      );

      const params = loraParams(model);
      zeroGrads(params);
      let nLabels = 0;
      for (const t of input.targets) if (t !== -100) nLabels++;
      assert.equal(nLabels, dump.n_label_tokens);
      const loss = lossAndGrad(kernels, model, acts, input, 1 / nLabels, null) / nLabels;
      assert.ok(Math.abs(loss - dump.loss) <= 1e-5 * dump.loss, `loss ${loss} vs ${dump.loss}`);
      assert.ok(Math.abs(evalSum / nLabels - loss) <= 1e-6 * loss, "eval and train forward agree");

      assert.equal(params.length, Object.keys(dump.lora_grads).length);
      for (const p of params) {
        const want = dump.lora_grads[p.name];
        assert.ok(want, `no golden gradient for ${p.name}`);
        assert.deepEqual(p.shape, want.shape, p.name);
        const got = l2(p.grad);
        assert.ok(Math.abs(got - want.l2) <= 1e-3 * want.l2 + 1e-9, `${p.name} grad L2 ${got} vs ${want.l2}`);
        for (let i = 0; i < 8; i++) {
          assert.ok(
            Math.abs(p.grad[i]! - want.first8[i]!) <= 1e-3 * want.l2 + 1e-9,
            `${p.name}[${i}] ${p.grad[i]} vs ${want.first8[i]}`,
          );
        }
      }
    });
  }
}

test("tiny-dora merged (W' = m ⊙ (W + s·B·A) / ‖W + s·B·A‖) matches PyTorch's merged model", () => {
  const dump = readDump("tiny-dora") as ReturnType<typeof readDump> & {
    logits: { merged_first8: Record<string, number[]> };
  };
  const model = loadModel(join(GOLDEN, "models", "tiny"));
  loadAdapter(join(GOLDEN, "parity", "tiny-dora", "adapter"), model);
  assert.equal(mergeAdapter(refKernels, model), 10);
  const input = inputFromRows(dump.batch.input_ids, dump.batch.labels);
  const V = model.config.vocabSize;
  const logits = new Float32Array(input.B * input.T * V);
  evalLossSum(refKernels, model, allocateActivations(model, input.B, input.T, { withGrad: false }), input, logits);
  for (const p of dump.logits.positions) {
    const want = dump.logits.merged_first8[String(p)]!;
    for (let v = 0; v < 8; v++) {
      assert.ok(
        Math.abs(logits[p * V + v]! - want[v]!) < 1e-4,
        `merged logit [0, ${p}, ${v}]: ${logits[p * V + v]} vs ${want[v]}`,
      );
    }
  }
});
