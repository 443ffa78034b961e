/**
 * The phi3 family against PyTorch (test/fixtures/golden/phi3, scripts/golden/phi3_dump.py: Hugging Face's Phi-3
 * math with Phi-4-mini's partial_rotary_factor 0.75 and longrope, PEFT's LoRA on nn.Linear): loss, logits and every
 * LoRA gradient over the fused qkv_proj and gate_up_proj and o_proj, down_proj; the KV-cache greedy decode against
 * full forwards; 5 AdamW steps; the merge. sliding_window 10 is shorter than the batch, the decode and the long
 * sequence, so the windowed attention is checked in training, in the KV-cache decode and with long_factor. loratune saves the adapter under PEFT's keys and shapes (B of qkv_proj
 * has q + k + v rows).
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

const DIR = join(GOLDEN, "phi3");
const MODEL = join(DIR, "model");
const ADAPTER = join(DIR, "adapter");
const k = getKernels();
const work = mkdtempSync(join(tmpdir(), "lt-phi3-golden-"));
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
  long: { input_ids: number[]; loss: number; first8: Record<string, number[]> };
  decode: { prompt: number[]; steps: { first8: number[]; token: number; max: number }[] };
  train_losses: number[];
  merged: { qkv0: Summary; logits_first8: Record<string, number[]> };
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

test("phi3 + PEFT LoRA (qkv_proj, o_proj, gate_up_proj, down_proj): loss, logits and every LoRA gradient match PyTorch", () => {
  const model = loadModel(MODEL);
  loadAdapter(ADAPTER, model, true);
  const params = loraParams(model);
  assert.equal(params.length, Object.keys(dump.lora_grads).length);
  assert.equal(params.length, 16, "2 layers x (qkv_proj, o_proj, gate_up_proj, down_proj) x (A, B)");
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

test("phi3 past original_max_position_embeddings (70 tokens, long_factor): loss and logits match PyTorch", () => {
  const model = loadModel(MODEL);
  loadAdapter(ADAPTER, model);
  const ids = dump.long.input_ids;
  const long = inputFromRows([ids], [undefined]);
  const V = model.config.vocabSize;
  const out = new Float32Array(ids.length * V);
  const acts = allocateActivations(model, 1, ids.length, { withGrad: false });
  const loss = evalLossSum(k, model, acts, long, out) / countLabelTokens(long.targets);
  assert.ok(Math.abs(loss - dump.long.loss) <= 1e-5 * dump.long.loss, `loss ${loss} vs ${dump.long.loss}`);
  assertLogits(out, dump.long.first8, V, "long logits");
});

test("phi3 KV-cache greedy decode: every step's logits and token equal PyTorch's full forward", () => {
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

test("phi3: 5 AdamW steps match PyTorch (losses and the trained adapter)", () => {
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
    // 2% of the move, not gpt2's 1%: layer 0's o_proj lora_A[27] has a first-step gradient of 1.1e-7 (median
    // 7e-3), so Adam's normalised first step turns the rounding of the windowed attention (f64 here, f32 in
    // torch) into 1.2% of the move; every other element is within about 1e-4 of it.
    assert.ok(maxErr <= 2e-2 * maxMove + 1e-7, `${p.name}: max |Δ| ${maxErr} (reference moved ${maxMove})`);
  }
});

test("phi3 merge: the written qkv_proj and the merged model's logits match PyTorch", () => {
  const model = loadModel(MODEL);
  loadAdapter(ADAPTER, model);
  assert.equal(mergeLora(k, model), 8);
  const out = join(work, "merged");
  mkdirSync(out);
  writeModelFiles(out, model, MODEL, "F32");
  const written = readSafetensors(join(out, "model.safetensors"), "f32");
  const qkv = written.get("model.layers.0.self_attn.qkv_proj.weight")!;
  assert.deepEqual(qkv.shape, dump.merged.qkv0.shape);
  assertClose(qkv.data as Float32Array, dump.merged.qkv0, "merged qkv_proj", 1e-5);
  assert.ok(written.has("lm_head.weight"), "the untied head is stored");
  const again = loadModel(out);
  assertLogits(logits(again), dump.merged.logits_first8, again.config.vocabSize, "merged logits");
});

test("phi3 adapters save as PEFT saves them: same keys and shapes (fused B rows), and reload", () => {
  const model = loadModel(MODEL);
  const config = loadAdapter(ADAPTER, model);
  const dir = join(work, "saved");
  saveAdapter(dir, model, config, null);
  const saved = readSafetensors(join(dir, "adapter_model.safetensors"), "f32");
  const source = readSafetensors(join(ADAPTER, "adapter_model.safetensors"), "f32");
  assert.deepEqual([...saved.keys()].sort(), [...source.keys()].sort());
  assert.deepEqual(saved.get("base_model.model.model.layers.1.self_attn.qkv_proj.lora_B.weight")!.shape, [128, 4]);
  assert.deepEqual(saved.get("base_model.model.model.layers.1.mlp.gate_up_proj.lora_B.weight")!.shape, [96, 4]);
  for (const [key, t] of source) {
    assert.deepEqual(saved.get(key)!.shape, t.shape, key);
    assert.deepEqual(saved.get(key)!.data, t.data, key);
  }
  const json = JSON.parse(readFileSync(join(dir, "adapter_config.json"), "utf8"));
  assert.deepEqual([...json.target_modules].sort(), ["down_proj", "gate_up_proj", "o_proj", "qkv_proj"]);
  const again = loadModel(MODEL);
  loadAdapter(dir, again);
  assert.ok(Math.abs(meanLoss(again) - dump.loss) <= 1e-5 * dump.loss);
});
