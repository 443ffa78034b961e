/**
 * PEFT's modules_to_save against PyTorch (parity/tiny-modules, scripts/golden/modules_dump.py): a LoRA adapter
 * with whole lm_head and embed_tokens copies on the tied tiny model (PEFT unties them). Loss, logits and every
 * gradient (A, B, the head's and the embedding's) match; the adapter saves back under PEFT's keys and reloads with
 * the same loss; an adapter_config.json as Unsloth writes it (modules_to_save ["lm_head", "embed_tokens"], every
 * linear targeted, its extra keys) loads, with weights made here for the tiny model's shapes.
 */
import assert from "node:assert/strict";
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { readSafetensors } from "../../src/io/safetensors.ts";
import { writeSafetensors } from "../../src/io/safetensors-write.ts";
import { getKernels } from "../../src/kernels/index.ts";
import { adapterTensors, loraParams } from "../../src/lora/adapter.ts";
import { enableModulesToSave } from "../../src/lora/modules-to-save.ts";
import { loadAdapter, saveAdapter } from "../../src/lora/peft-files.ts";
import { allocateActivations } from "../../src/model/activations.ts";
import { loadModel } from "../../src/model/load.ts";
import { countLabelTokens, evalLossSum, lossAndGrad } from "../../src/model/loss.ts";
import type { Model } from "../../src/model/model.ts";
import { Rng } from "../../src/tensor/rng.ts";
import { zeroGrads } from "../../src/tensor/trainable.ts";
import { GOLDEN, inputFromRows, readDump } from "./golden-helpers.ts";

const work = mkdtempSync(join(tmpdir(), "lt-modules-"));
after(() => rmSync(work, { recursive: true, force: true }));
const k = getKernels();
const TINY = join(GOLDEN, "models", "tiny");
const ADAPTER = join(GOLDEN, "parity", "tiny-modules", "adapter");
const dump = readDump("tiny-modules");
const input = inputFromRows(dump.batch.input_ids, dump.batch.labels);

function meanLoss(model: Model): number {
  const acts = allocateActivations(model, input.B, input.T, { withGrad: false });
  return evalLossSum(k, model, acts, input) / countLabelTokens(input.targets);
}

test("modules_to_save lm_head + embed_tokens: loss, logits and every gradient match PyTorch; the tie is broken", () => {
  const model = loadModel(TINY);
  assert.equal(model.lmHead, model.embed, "tiny is tied");
  const config = loadAdapter(ADAPTER, model, true);
  assert.notEqual(model.lmHead, model.embed);
  const params = [...loraParams(model), ...enableModulesToSave(model, config)];
  assert.equal(params.length, Object.keys(dump.lora_grads).length);
  zeroGrads(params);
  const n = countLabelTokens(input.targets);
  const acts = allocateActivations(model, input.B, input.T, { withGrad: true });
  const loss = lossAndGrad(k, model, acts, input, 1 / n, null) / n;
  assert.ok(Math.abs(loss - dump.loss) <= 1e-5 * dump.loss, `loss ${loss} vs ${dump.loss}`);
  for (const p of params) {
    const want = dump.lora_grads[p.name];
    assert.ok(want, `no golden gradient for ${p.name}`);
    assert.deepEqual(p.shape, want.shape, p.name);
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
      assert.ok(Math.abs(logits[pos * V + v]! - want) < 1e-4, `logit [0, ${pos}, ${v}]`);
    }
  }
});

test("modules_to_save saves back under PEFT's keys (base_model.model.<module>.weight) and reloads with the same loss", () => {
  const model = loadModel(TINY);
  const config = loadAdapter(ADAPTER, model);
  const out = join(work, "saved");
  saveAdapter(out, model, config, null);
  const saved = readSafetensors(join(out, "adapter_model.safetensors"), "f32");
  const source = readSafetensors(join(ADAPTER, "adapter_model.safetensors"), "f32");
  assert.deepEqual([...saved.keys()].sort(), [...source.keys()].sort());
  for (const key of ["base_model.model.lm_head.weight", "base_model.model.model.embed_tokens.weight"]) {
    assert.deepEqual(saved.get(key)!.data, source.get(key)!.data, key);
  }
  assert.deepEqual(JSON.parse(readFileSync(join(out, "adapter_config.json"), "utf8")).modules_to_save, [
    "lm_head",
    "embed_tokens",
  ]);
  const again = loadModel(TINY);
  loadAdapter(out, again);
  assert.ok(Math.abs(meanLoss(again) - dump.loss) <= 1e-5 * dump.loss);
});

test("an Unsloth adapter_config.json with modules_to_save [lm_head, embed_tokens] loads (weights for tiny's shapes)", () => {
  const dir = join(work, "unsloth");
  mkdirSync(dir);
  copyFileSync(
    join(import.meta.dirname, "..", "fixtures", "unsloth-adapter", "adapter_config.json"),
    join(dir, "adapter_config.json"),
  );
  const rng = new Rng(5);
  const shapes = new Map<string, number[]>();
  const probe = loadModel(TINY);
  for (const lin of probe.linears) {
    shapes.set(`base_model.model.${lin.name}.lora_A.weight`, [16, lin.inFeatures]);
    shapes.set(`base_model.model.${lin.name}.lora_B.weight`, [lin.outFeatures, 16]);
  }
  shapes.set("base_model.model.lm_head.weight", [...probe.embed.shape]);
  shapes.set("base_model.model.model.embed_tokens.weight", [...probe.embed.shape]);
  const tensors = new Map(
    [...shapes].map(([name, shape]) => {
      const data = new Float32Array(shape[0]! * shape[1]!).map(() => (rng.next() - 0.5) * 0.04);
      return [name, { dtype: "F32" as const, shape, data }];
    }),
  );
  writeSafetensors(join(dir, "adapter_model.safetensors"), tensors, { format: "pt" });
  const model = loadModel(TINY);
  const config = loadAdapter(dir, model);
  assert.deepEqual(config.modulesToSave, ["lm_head", "embed_tokens"]);
  assert.equal(adapterTensors(model).length, 2 * 7 * 5);
  const head = tensors.get("base_model.model.lm_head.weight")!.data;
  assert.deepEqual(model.lmHead.data, head, "the head is the file's");
  assert.deepEqual(model.embed.data, tensors.get("base_model.model.model.embed_tokens.weight")!.data);
  assert.ok(Number.isFinite(meanLoss(model)));
});
