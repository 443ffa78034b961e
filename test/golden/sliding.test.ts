/**
 * Sliding-window attention of the Llama-style families against PyTorch (test/fixtures/golden/sliding,
 * scripts/golden/sliding_dump.py: Hugging Face's Mistral and Qwen2 math with transformers' sliding-window mask):
 * Mistral (window 5 on every layer) and Qwen2 (use_sliding_window, window 4 from max_window_layers 1) with LoRA on
 * q/k/v/o: loss, logits and every LoRA gradient on 16-token rows, and the KV-cache greedy decode (6 + 8 tokens)
 * against full forwards.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { getKernels } from "../../src/kernels/index.ts";
import { loraParams } from "../../src/lora/adapter.ts";
import { loadAdapter } from "../../src/lora/peft-files.ts";
import { allocateActivations } from "../../src/model/activations.ts";
import { createSession, feedTokens } from "../../src/model/infer.ts";
import { loadModel } from "../../src/model/load.ts";
import { countLabelTokens, evalLossSum, lossAndGrad } from "../../src/model/loss.ts";
import { argmax } from "../../src/model/sampling.ts";
import { zeroGrads } from "../../src/tensor/trainable.ts";
import { GOLDEN, inputFromRows } from "./golden-helpers.ts";

const k = getKernels();

interface Summary {
  shape: number[];
  l2: number;
  first8: number[];
  last8: number[];
}
interface Dump {
  loss: number;
  logits: { positions: number[]; first8: Record<string, number[]> };
  lora_grads: Record<string, Summary>;
  decode: { prompt: number[]; steps: { first8: number[]; token: number }[] };
}

function fixture(name: string) {
  const dir = join(GOLDEN, "sliding", name);
  const dump = JSON.parse(readFileSync(join(dir, "dump.json"), "utf8")) as Dump;
  const batch = JSON.parse(readFileSync(join(dir, "batch.json"), "utf8")) as {
    input_ids: number[][];
    labels: number[][];
  };
  return { dir, dump, input: inputFromRows(batch.input_ids, batch.labels) };
}

function assertClose(values: ArrayLike<number>, want: Summary, name: string): void {
  let sq = 0;
  for (let i = 0; i < values.length; i++) sq += values[i]! ** 2;
  const l2 = Math.sqrt(sq);
  const tol = 1e-3 * want.l2;
  assert.ok(Math.abs(l2 - want.l2) <= tol, `${name}: L2 ${l2} vs ${want.l2}`);
  const tail = values.length - 8;
  for (const [i, w] of want.first8.entries()) assert.ok(Math.abs(values[i]! - w) <= tol, `${name}[${i}]`);
  for (const [i, w] of want.last8.entries()) assert.ok(Math.abs(values[tail + i]! - w) <= tol, `${name}[-${8 - i}]`);
}

for (const [name, windows] of [
  ["mistral", [5, 5]],
  ["qwen2", [0, 4]],
] as const) {
  test(`${name} with a sliding window: loss, logits and every LoRA gradient match PyTorch`, () => {
    const { dir, dump, input } = fixture(name);
    const model = loadModel(join(dir, "model"));
    assert.deepEqual(
      model.layers.map((l) => (l as { window: number }).window),
      windows,
    );
    loadAdapter(join(dir, "adapter"), model, true);
    const params = loraParams(model);
    assert.equal(params.length, 16);
    zeroGrads(params);
    const n = countLabelTokens(input.targets);
    const V = model.config.vocabSize;
    const logits = new Float32Array(input.B * input.T * V);
    evalLossSum(k, model, allocateActivations(model, input.B, input.T, { withGrad: false }), input, logits);
    const acts = allocateActivations(model, input.B, input.T, { withGrad: true });
    const loss = lossAndGrad(k, model, acts, input, 1 / n, null) / n;
    assert.ok(Math.abs(loss - dump.loss) <= 1e-5 * dump.loss, `loss ${loss} vs ${dump.loss}`);
    for (const p of params) {
      const want = dump.lora_grads[p.name];
      assert.ok(want, `no golden gradient for ${p.name}`);
      assert.deepEqual(p.shape, want.shape, p.name);
      assertClose(p.grad, want, `grad ${p.name}`);
    }
    for (const [pos, row] of Object.entries(dump.logits.first8)) {
      for (const [v, w] of row.entries()) {
        const got = logits[Number(pos) * V + v]!;
        assert.ok(Math.abs(got - w) < 1e-4, `logits [${pos}, ${v}] ${got} vs ${w}`);
      }
    }
  });

  test(`${name} KV-cache greedy decode past the window: every step equals PyTorch's full forward`, () => {
    const { dir, dump } = fixture(name);
    const model = loadModel(join(dir, "model"));
    loadAdapter(join(dir, "adapter"), model);
    const { prompt, steps } = dump.decode;
    const session = createSession(model, prompt.length + steps.length, 4);
    let out = feedTokens(k, session, prompt);
    for (const [i, step] of steps.entries()) {
      for (const [v, w] of step.first8.entries()) {
        assert.ok(Math.abs(out[v]! - w) < 1e-4, `step ${i} logit ${v}: ${out[v]} vs ${w}`);
      }
      assert.equal(argmax(out), step.token, `step ${i} token`);
      out = feedTokens(k, session, [step.token]);
    }
  });
}
