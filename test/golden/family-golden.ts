/**
 * The checks every family golden test (gemma, gemma2, gemma3, gpt2, phi3) runs against its PyTorch fixture
 * (test/fixtures/golden/<family>: model/, adapter/, trained/, batch.json, data.jsonl, dump.json): loss, logits and
 * every LoRA gradient; the KV-cache greedy decode against full forwards; 5 AdamW steps; the merge; the adapter saved
 * back under PEFT's keys. familyGolden registers those five tests from a FamilySpec (the family's counts, names and
 * tolerances) and returns the loaded fixture with its helpers for the family's own extra tests.
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
import type { ModelInput } from "../../src/model/forward.ts";
import { createSession, feedTokens } from "../../src/model/infer.ts";
import { loadModel } from "../../src/model/load.ts";
import { countLabelTokens, evalLossSum, lossAndGrad } from "../../src/model/loss.ts";
import type { Model } from "../../src/model/model.ts";
import { argmax } from "../../src/model/sampling.ts";
import { writeModelFiles } from "../../src/model/save-dir.ts";
import type { StoredTensor } from "../../src/tensor/stored-tensor.ts";
import { zeroGrads } from "../../src/tensor/trainable.ts";
import { ADAMW_DEFAULTS, AdamW } from "../../src/train/adamw.ts";
import { GOLDEN, inputFromRows } from "./golden-helpers.ts";

/** A tensor as the dump summarises it: shape, L2 norm, first (and optionally last) 8 values. */
export interface Summary {
  shape: number[];
  l2: number;
  first8: number[];
  last8?: number[];
}

/** dump.json's shared part; `merged` holds the family's merged weight summary under FamilySpec.merged.dumpKey. */
export interface FamilyDump {
  loss: number;
  logits: { positions: number[]; first8: Record<string, number[]> };
  lora_grads: Record<string, Summary>;
  decode: { prompt: number[]; steps: { first8: number[]; token: number; max: number }[] };
  train_losses: number[];
  merged: Record<string, Summary> & { logits_first8: Record<string, number[]> };
}

/** What differs between families; every number is an exact expectation or a tolerance of that family's test. */
export interface FamilySpec {
  /** Fixture directory under test/fixtures/golden. */
  dir: string;
  /** The name the test titles start with. */
  label: string;
  /** The gradient test's title after "<label> + PEFT LoRA " (e.g. "(all seven linears)"). */
  targets: string;
  /** LoRA parameter tensors (A and B) and the message naming them. */
  params: { count: number; what: string };
  /** AdamW: the trained adapter's max |Δ| may be this fraction of the reference's move (+ 1e-7). */
  adamMoveTol: number;
  merged: {
    /** What mergeLora returns: the number of merged linears. */
    count: number;
    /** The merge test's title after "<label> merge: the written ". */
    title: string;
    /** The written weight checked, its summary's key in dump.merged, and its name in messages. */
    weight: string;
    dumpKey: string;
    name: string;
    /** Whether lm_head.weight is written (untied head) or not (tied). */
    headStored: boolean;
  };
  save: {
    /** The save test's title after "<label> adapters save as PEFT saves them: ". */
    title: string;
    /** The family's checks of the saved tensors and adapter_config.json (beyond keys, shapes and data). */
    check: (saved: Map<string, StoredTensor>, json: { fan_in_fan_out?: boolean; target_modules: string[] }) => void;
  };
}

/** The loaded fixture and helpers a family file uses for its extra tests. */
export interface FamilyGolden {
  k: ReturnType<typeof getKernels>;
  dir: string;
  model: string;
  adapter: string;
  /** A temporary directory removed after the file's tests. */
  work: string;
  dump: FamilyDump;
  /** batch.json as model input. */
  input: ModelInput;
  logits: (model: Model) => Float32Array;
  meanLoss: (model: Model) => number;
}

/** Asserts the rows of `want` (position → first 8 logits) within 1e-4 of `got` ([positions, V]). */
export function assertLogits(got: Float32Array, want: Record<string, number[]>, V: number, what: string): void {
  for (const [pos, row] of Object.entries(want)) {
    row.forEach((w, v) => {
      assert.ok(
        Math.abs(got[Number(pos) * V + v]! - w) < 1e-4,
        `${what} [${pos}, ${v}] ${got[Number(pos) * V + v]} vs ${w}`,
      );
    });
  }
}

/** Asserts L2, first 8 and last 8 of `values` against `want`, each within rel × the reference L2. */
export function assertClose(values: ArrayLike<number>, want: Summary, name: string, rel = 1e-3): void {
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

/** Loads the fixture of `spec.dir`, registers the five shared tests and returns the fixture for extra tests. */
export function familyGolden(spec: FamilySpec): FamilyGolden {
  const dir = join(GOLDEN, spec.dir);
  const k = getKernels();
  const work = mkdtempSync(join(tmpdir(), `lt-${spec.dir}-golden-`));
  after(() => rmSync(work, { recursive: true, force: true }));
  const dump = JSON.parse(readFileSync(join(dir, "dump.json"), "utf8")) as FamilyDump;
  const batch = JSON.parse(readFileSync(join(dir, "batch.json"), "utf8")) as {
    input_ids: number[][];
    labels: number[][];
  };
  const input = inputFromRows(batch.input_ids, batch.labels);
  const g: FamilyGolden = {
    k,
    dir,
    model: join(dir, "model"),
    adapter: join(dir, "adapter"),
    work,
    dump,
    input,
    logits(model) {
      const out = new Float32Array(input.B * input.T * model.config.vocabSize);
      evalLossSum(k, model, allocateActivations(model, input.B, input.T, { withGrad: false }), input, out);
      return out;
    },
    meanLoss(model) {
      const acts = allocateActivations(model, input.B, input.T, { withGrad: false });
      return evalLossSum(k, model, acts, input) / countLabelTokens(input.targets);
    },
  };
  gradientTest(spec, g);
  decodeTest(spec, g);
  adamwTest(spec, g);
  mergeTest(spec, g);
  saveTest(spec, g);
  return g;
}

function gradientTest(spec: FamilySpec, g: FamilyGolden): void {
  const { k, dump, input } = g;
  test(`${spec.label} + PEFT LoRA ${spec.targets}: loss, logits and every LoRA gradient match PyTorch`, () => {
    const model = loadModel(g.model);
    loadAdapter(g.adapter, model, true);
    const params = loraParams(model);
    assert.equal(params.length, Object.keys(dump.lora_grads).length);
    assert.equal(params.length, spec.params.count, spec.params.what);
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
    assertLogits(g.logits(model), dump.logits.first8, model.config.vocabSize, "logits");
  });
}

function decodeTest(spec: FamilySpec, g: FamilyGolden): void {
  test(`${spec.label} KV-cache greedy decode: every step's logits and token equal PyTorch's full forward`, () => {
    const model = loadModel(g.model);
    loadAdapter(g.adapter, model);
    const { prompt, steps } = g.dump.decode;
    const session = createSession(model, prompt.length + steps.length, 4);
    let out = feedTokens(g.k, session, prompt);
    for (const [i, step] of steps.entries()) {
      for (const [v, w] of step.first8.entries()) {
        assert.ok(Math.abs(out[v]! - w) < 1e-4, `step ${i} logit ${v}: ${out[v]} vs ${w}`);
      }
      assert.equal(argmax(out), step.token, `step ${i} token`);
      out = feedTokens(g.k, session, [step.token]);
    }
  });
}

function adamwTest(spec: FamilySpec, g: FamilyGolden): void {
  const { k, dump } = g;
  test(`${spec.label}: 5 AdamW steps match PyTorch (losses and the trained adapter)`, () => {
    const model = loadModel(g.model);
    loadAdapter(g.adapter, model, true);
    const params = loraParams(model);
    const opt = new AdamW(params, ADAMW_DEFAULTS);
    const rows = readFileSync(join(g.dir, "data.jsonl"), "utf8")
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
    const trained = readSafetensors(join(g.dir, "trained", "adapter_model.safetensors"), "f32");
    const initial = readSafetensors(join(g.adapter, "adapter_model.safetensors"), "f32");
    for (const p of params) {
      const ref = trained.get(p.name)!.data as Float32Array;
      const start = initial.get(p.name)!.data as Float32Array;
      let maxErr = 0;
      let maxMove = 0;
      for (let i = 0; i < ref.length; i++) {
        maxErr = Math.max(maxErr, Math.abs(p.data[i]! - ref[i]!));
        maxMove = Math.max(maxMove, Math.abs(ref[i]! - start[i]!));
      }
      assert.ok(
        maxErr <= spec.adamMoveTol * maxMove + 1e-7,
        `${p.name}: max |Δ| ${maxErr} (reference moved ${maxMove})`,
      );
    }
  });
}

function mergeTest(spec: FamilySpec, g: FamilyGolden): void {
  const m = spec.merged;
  test(`${spec.label} merge: the written ${m.title} and the merged model's logits match PyTorch`, () => {
    const model = loadModel(g.model);
    loadAdapter(g.adapter, model);
    assert.equal(mergeLora(g.k, model), m.count);
    const out = join(g.work, "merged");
    mkdirSync(out);
    writeModelFiles(out, model, g.model, "F32");
    const written = readSafetensors(join(out, "model.safetensors"), "f32");
    const weight = written.get(m.weight)!;
    const want = g.dump.merged[m.dumpKey]!;
    assert.deepEqual(weight.shape, want.shape);
    assertClose(weight.data as Float32Array, want, `merged ${m.name}`, 1e-5);
    if (m.headStored) assert.ok(written.has("lm_head.weight"), "the untied head is stored");
    else assert.equal(written.has("lm_head.weight"), false, "the tied head is not stored");
    const again = loadModel(out);
    assertLogits(g.logits(again), g.dump.merged.logits_first8, again.config.vocabSize, "merged logits");
  });
}

function saveTest(spec: FamilySpec, g: FamilyGolden): void {
  test(`${spec.label} adapters save as PEFT saves them: ${spec.save.title}`, () => {
    const model = loadModel(g.model);
    const config = loadAdapter(g.adapter, model);
    const dir = join(g.work, "saved");
    saveAdapter(dir, model, config, null);
    const saved = readSafetensors(join(dir, "adapter_model.safetensors"), "f32");
    const source = readSafetensors(join(g.adapter, "adapter_model.safetensors"), "f32");
    assert.deepEqual([...saved.keys()].sort(), [...source.keys()].sort());
    for (const [key, t] of source) {
      assert.deepEqual(saved.get(key)!.shape, t.shape, key);
      assert.deepEqual(saved.get(key)!.data, t.data, key);
    }
    spec.save.check(saved, JSON.parse(readFileSync(join(dir, "adapter_config.json"), "utf8")));
    const again = loadModel(g.model);
    loadAdapter(dir, again);
    assert.ok(Math.abs(g.meanLoss(again) - g.dump.loss) <= 1e-5 * g.dump.loss);
  });
}
