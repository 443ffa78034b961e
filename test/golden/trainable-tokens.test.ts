/**
 * New tokens against PyTorch (parity/tiny-tokens, scripts/golden/tokens_dump.py): PEFT's trainable_token_indices
 * adapter on the tied tiny (vocabulary 512 -> 514) loads into the base of the old size, resized; loss, the new logit
 * columns and every gradient (LoRA and the new rows, the head's share included through the tie) match; saving it
 * again gives PEFT's keys and config back.
 */
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { formatInspect } from "../../src/cli/inspect.ts";
import { inspectAdapter } from "../../src/inspect/inspect.ts";
import { readSafetensors } from "../../src/io/safetensors.ts";
import { getKernels } from "../../src/kernels/index.ts";
import { loraParams } from "../../src/lora/adapter.ts";
import { loadAdapter, saveAdapter } from "../../src/lora/peft-files.ts";
import { trainTokenRows } from "../../src/lora/trainable-tokens.ts";
import { allocateActivations } from "../../src/model/activations.ts";
import { loadModel } from "../../src/model/load.ts";
import { countLabelTokens, evalLossSum, lossAndGrad } from "../../src/model/loss.ts";
import { zeroGrads } from "../../src/tensor/trainable.ts";
import { GOLDEN, inputFromRows, readDump } from "./golden-helpers.ts";

const work = mkdtempSync(join(tmpdir(), "lt-tokens-"));
after(() => rmSync(work, { recursive: true, force: true }));
const k = getKernels();
const TINY = join(GOLDEN, "models", "tiny");
const ADAPTER = join(GOLDEN, "parity", "tiny-tokens", "adapter");
const dump = readDump("tiny-tokens") as ReturnType<typeof readDump> & {
  logits: { new: Record<string, number[]> };
  old_rows_grad_l2: number;
};
const input = inputFromRows(dump.batch.input_ids, dump.batch.labels);
const DELTA = "base_model.model.model.embed_tokens.token_adapter.trainable_tokens_delta";

test("trainable_token_indices on a tied model: loss, new logits and every gradient match PyTorch", () => {
  const model = loadModel(TINY);
  assert.equal(model.config.vocabSize, 512);
  const config = loadAdapter(ADAPTER, model, true);
  assert.equal(model.config.vocabSize, 514);
  assert.equal(model.lmHead, model.embed, "still tied");
  assert.deepEqual(config.trainableTokenIndices, { embed_tokens: [512, 513] });
  const params = [...loraParams(model), ...trainTokenRows(model, config.trainableTokenIndices!)];
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
  assert.ok(dump.old_rows_grad_l2 > 0, "PyTorch's old rows have a gradient, which loratune does not train");
  const V = model.config.vocabSize;
  const logits = new Float32Array(input.B * input.T * V);
  evalLossSum(k, model, allocateActivations(model, input.B, input.T, { withGrad: false }), input, logits);
  for (const pos of dump.logits.positions) {
    dump.logits.new[String(pos)]!.forEach((want, j) => {
      assert.ok(Math.abs(logits[pos * V + 512 + j]! - want) < 1e-4, `new logit [0, ${pos}, ${512 + j}]`);
    });
  }
});

test("the trainable-tokens adapter saves back under PEFT's keys and config", () => {
  const model = loadModel(TINY);
  const config = loadAdapter(ADAPTER, model, false);
  const out = join(work, "again");
  saveAdapter(out, model, config, "tiny");
  const json = JSON.parse(readFileSync(join(out, "adapter_config.json"), "utf8"));
  assert.deepEqual(json.trainable_token_indices, [512, 513]);
  const a = readSafetensors(join(ADAPTER, "adapter_model.safetensors"), "f32");
  const b = readSafetensors(join(out, "adapter_model.safetensors"), "f32");
  assert.deepEqual([...b.keys()].sort(), [...a.keys()].sort());
  assert.deepEqual(b.get(DELTA)!.data, a.get(DELTA)!.data);
});

test("inspect reports trainable_token_indices (the rows count as trainable values)", () => {
  const report = inspectAdapter(ADAPTER);
  assert.deepEqual(report.trainable_token_indices, { embed_tokens: [512, 513] });
  assert.equal(report.trainable_params, 5 * (8 * 64 + 64 * 8 + 8 * 64 + 32 * 8) + 2 * 64);
  assert.match(formatInspect(report), /token rows +embed_tokens 512\.\.513 \(trainable_token_indices\)/);
});
