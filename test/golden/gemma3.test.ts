/**
 * The gemma3_text family against PyTorch (test/fixtures/golden/gemma3, scripts/golden/gemma_dump.py --family gemma3:
 * Hugging Face's Gemma 3 text math: Gemma 2's block with q/k norms (1 + w over head_dim), layer 0 sliding (4 keys,
 * RoPE base rope_local_base_freq 1e4) and layer 1 global (rope_theta 1e6, linear rope_scaling 2), no soft-caps;
 * PEFT's LoRA on all seven linears): loss, logits and every LoRA gradient; the KV-cache greedy decode against full
 * forwards; 5 AdamW steps; the merge; the adapter saved back under PEFT's keys.
 */
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { readSafetensors } from "../../src/io/safetensors.ts";
import { getKernels } from "../../src/kernels/index.ts";
import { loraParams } from "../../src/lora/adapter.ts";
import { mergeLora } from "../../src/lora/merge.ts";
import { loadAdapter, saveAdapter } from "../../src/lora/peft-files.ts";
import { allocateActivations } from "../../src/model/activations.ts";
import { createSession, feedTokens } from "../../src/model/infer.ts";
import { loadModel } from "../../src/model/load.ts";
import { countLabelTokens, evalLossSum, lossAndGrad } from "../../src/model/loss.ts";
import type { Model } from "../../src/model/model.ts";
import { argmax } from "../../src/model/sampling.ts";
import { writeModelFiles } from "../../src/model/save-dir.ts";
import { zeroGrads } from "../../src/tensor/trainable.ts";
import { ADAMW_DEFAULTS, AdamW } from "../../src/train/adamw.ts";
import { GOLDEN, inputFromRows } from "./golden-helpers.ts";

const DIR = join(GOLDEN, "gemma3");
const MODEL = join(DIR, "model");
const ADAPTER = join(DIR, "adapter");
const k = getKernels();
const work = mkdtempSync(join(tmpdir(), "lt-gemma3-golden-"));
after(() => rmSync(work, { recursive: true, force: true }));

interface Summary {
  shape: number[];
  l2: number;
  first8: number[];
  last8?: number[];
}
const dump = JSON.parse(readFileSync(join(DIR, "dump.json"), "utf8")) as {
  loss: number;
  logits: { positions: number[]; first8: Record<string, number[]> };
  lora_grads: Record<string, Summary>;
  decode: { prompt: number[]; steps: { first8: number[]; token: number; max: number }[] };
  train_losses: number[];
  merged: { q_proj0: Summary; logits_first8: Record<string, number[]> };
};
const batch = JSON.parse(readFileSync(join(DIR, "batch.json"), "utf8")) as {
  input_ids: number[][];
  labels: number[][];
};
const input = inputFromRows(batch.input_ids, batch.labels);

function logits(model: Model): Float32Array {
  const out = new Float32Array(input.B * input.T * model.config.vocabSize);
  evalLossSum(k, model, allocateActivations(model, input.B, input.T, { withGrad: false }), input, out);
  return out;
}

function meanLoss(model: Model): number {
  const acts = allocateActivations(model, input.B, input.T, { withGrad: false });
  return evalLossSum(k, model, acts, input) / countLabelTokens(input.targets);
}

function assertLogits(got: Float32Array, want: Record<string, number[]>, V: number, what: string): void {
  for (const [pos, row] of Object.entries(want)) {
    row.forEach((w, v) => {
      assert.ok(
        Math.abs(got[Number(pos) * V + v]! - w) < 1e-4,
        `${what} [${pos}, ${v}] ${got[Number(pos) * V + v]} vs ${w}`,
      );
    });
  }
}

function assertClose(values: ArrayLike<number>, want: Summary, name: string, rel = 1e-3): void {
  let sq = 0;
  for (let i = 0; i < values.length; i++) sq += values[i]! ** 2;
  const l2 = Math.sqrt(sq);
  assert.ok(Math.abs(l2 - want.l2) <= rel * want.l2, `${name}: L2 ${l2} vs ${want.l2}`);
  const tail = values.length - 8;
  for (const [i, w] of want.first8.entries()) {
    assert.ok(Math.abs(values[i]! - w) <= rel * want.l2, `${name}[${i}] ${values[i]} vs ${w}`);
  }
  for (const [i, w] of (want.last8 ?? []).entries()) {
    assert.ok(Math.abs(values[tail + i]! - w) <= rel * want.l2, `${name}[${tail + i}] ${values[tail + i]} vs ${w}`);
  }
}

test("gemma3_text + PEFT LoRA (all seven linears): loss, logits and every LoRA gradient match PyTorch", () => {
  const model = loadModel(MODEL);
  loadAdapter(ADAPTER, model, true);
  const params = loraParams(model);
  assert.equal(params.length, Object.keys(dump.lora_grads).length);
  assert.equal(params.length, 28, "2 layers x 7 linears x (A, B)");
  zeroGrads(params);
  const n = countLabelTokens(input.targets);
  const acts = allocateActivations(model, input.B, input.T, { withGrad: true });
  const loss = lossAndGrad(k, model, acts, input, 1 / n, null) / n;
  assert.ok(Math.abs(loss - dump.loss) <= 1e-5 * dump.loss, `loss ${loss} vs ${dump.loss}`);
  for (const p of params) {
    const want = dump.lora_grads[p.name];
    assert.ok(want, `no golden gradient for ${p.name}`);
    assert.deepEqual(p.shape, want.shape, p.name);
    assertClose(p.grad, want, `grad ${p.name}`);
  }
  assertLogits(logits(model), dump.logits.first8, model.config.vocabSize, "logits");
});

test("gemma3_text KV-cache greedy decode: every step's logits and token equal PyTorch's full forward", () => {
  const model = loadModel(MODEL);
  loadAdapter(ADAPTER, model);
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

test("gemma3_text: 5 AdamW steps match PyTorch (losses and the trained adapter)", () => {
  const model = loadModel(MODEL);
  loadAdapter(ADAPTER, model, true);
  const params = loraParams(model);
  const opt = new AdamW(params, ADAMW_DEFAULTS);
  const rows = readFileSync(join(DIR, "data.jsonl"), "utf8")
    .trim()
    .split("\n")
    .map((l) => (JSON.parse(l) as { input_ids: number[] }).input_ids);
  const acts = allocateActivations(model, 2, 16, { withGrad: true });
  for (let step = 0; step < 5; step++) {
    const ids = rows.slice(2 * step, 2 * step + 2);
    const batchInput = inputFromRows(ids, [undefined, undefined]);
    zeroGrads(params);
    const n = countLabelTokens(batchInput.targets);
    const loss = lossAndGrad(k, model, acts, batchInput, 1 / n, null) / n;
    const want = dump.train_losses[step]!;
    assert.ok(Math.abs(loss - want) <= 1e-5 * want, `step ${step + 1}: loss ${loss} vs ${want}`);
    opt.update(k, 1e-3);
  }
  const trained = readSafetensors(join(DIR, "trained", "adapter_model.safetensors"), "f32");
  const initial = readSafetensors(join(ADAPTER, "adapter_model.safetensors"), "f32");
  for (const p of params) {
    const ref = trained.get(p.name)!.data as Float32Array;
    const start = initial.get(p.name)!.data as Float32Array;
    let maxErr = 0;
    let maxMove = 0;
    for (let i = 0; i < ref.length; i++) {
      maxErr = Math.max(maxErr, Math.abs(p.data[i]! - ref[i]!));
      maxMove = Math.max(maxMove, Math.abs(ref[i]! - start[i]!));
    }
    assert.ok(maxErr <= 1e-2 * maxMove + 1e-7, `${p.name}: max |Δ| ${maxErr} (reference moved ${maxMove})`);
  }
});

test("gemma3_text merge: the written q_proj and the merged model's logits match PyTorch", () => {
  const model = loadModel(MODEL);
  loadAdapter(ADAPTER, model);
  assert.equal(mergeLora(k, model), 14);
  const out = join(work, "merged");
  mkdirSync(out);
  writeModelFiles(out, model, MODEL, "F32");
  const written = readSafetensors(join(out, "model.safetensors"), "f32");
  const q0 = written.get("model.layers.0.self_attn.q_proj.weight")!;
  assert.deepEqual(q0.shape, dump.merged.q_proj0.shape);
  assertClose(q0.data as Float32Array, dump.merged.q_proj0, "merged q_proj", 1e-5);
  assert.equal(written.has("lm_head.weight"), false, "the tied head is not stored");
  const again = loadModel(out);
  assertLogits(logits(again), dump.merged.logits_first8, again.config.vocabSize, "merged logits");
});

test("gemma3_text adapters save as PEFT saves them: same keys and shapes, and reload", () => {
  const model = loadModel(MODEL);
  const config = loadAdapter(ADAPTER, model);
  const dir = join(work, "saved");
  saveAdapter(dir, model, config, null);
  const saved = readSafetensors(join(dir, "adapter_model.safetensors"), "f32");
  const source = readSafetensors(join(ADAPTER, "adapter_model.safetensors"), "f32");
  assert.deepEqual([...saved.keys()].sort(), [...source.keys()].sort());
  assert.ok(saved.has("base_model.model.model.layers.1.mlp.down_proj.lora_B.weight"));
  for (const [key, t] of source) {
    assert.deepEqual(saved.get(key)!.shape, t.shape, key);
    assert.deepEqual(saved.get(key)!.data, t.data, key);
  }
  const json = JSON.parse(readFileSync(join(dir, "adapter_config.json"), "utf8"));
  assert.equal(json.fan_in_fan_out, false);
  assert.deepEqual([...json.target_modules].sort(), [
    "down_proj",
    "gate_proj",
    "k_proj",
    "o_proj",
    "q_proj",
    "up_proj",
    "v_proj",
  ]);
  const again = loadModel(MODEL);
  loadAdapter(dir, again);
  assert.ok(Math.abs(meanLoss(again) - dump.loss) <= 1e-5 * dump.loss);
});
