import assert from "node:assert/strict";
import { test } from "node:test";
import { attachLora } from "../../src/lora/adapter.ts";
import { defaultLoraConfig } from "../../src/lora/config.ts";
import { activationBytes, allocateActivations, groupSequences, rowChunkRows } from "../../src/model/activations.ts";
import { Rng } from "../../src/tensor/rng.ts";
import { randomModel } from "../helpers/random-model.ts";

test("activationBytes predicts the arena size exactly", () => {
  for (const overrides of [{}, { model_type: "qwen3", head_dim: 8 }]) {
    const model = randomModel(overrides, 1);
    const rng = new Rng(1);
    attachLora(model, defaultLoraConfig({ targetModules: "all-linear", loraDropout: 0.1 }), () => rng.next());
    for (const o of [{ withGrad: true }, { withGrad: false }, { withGrad: true, checkpoint: true }]) {
      assert.equal(activationBytes(model, 3, 7, o), allocateActivations(model, 3, 7, o).bytes, JSON.stringify(o));
    }
    // Checkpointing keeps one set of work buffers instead of one per layer (every layer keeps its input).
    const full = activationBytes(model, 3, 7);
    const ckpt = activationBytes(model, 3, 7, { checkpoint: true });
    assert.ok(ckpt < full, `${ckpt} < ${full}`);
  }
});

test("MLP row chunks: equal, at least 512 rows and the rows of an 8 MiB buffer, the whole batch when smaller", () => {
  assert.equal(rowChunkRows(2048, 8192), 512); // Llama-3.2-1B at 4 × 512: 4 chunks
  assert.equal(rowChunkRows(1100, 8192), 550); // 2 chunks, not 3 of 367
  assert.equal(rowChunkRows(2048, 1536), 2048); // 8 MiB holds 1365 rows of 1536: one chunk (two would be shorter)
  assert.equal(rowChunkRows(300, 8192), 300);
  assert.equal(rowChunkRows(64, 14336), 64);
  assert.equal(rowChunkRows(5000, 0), 5000); // no row-wise buffers (a family without a row-wise tail)
});

test("sequence groups: equal groups of whole sequences reaching a row chunk's rows; all B when fewer", () => {
  assert.equal(groupSequences(4, 512, 8192), 1); // Llama-3.2-1B at 4 × 512: 4 groups of one sequence
  assert.equal(groupSequences(4, 256, 1536), 4); // SmolLM2-135M at 4 × 256: one group (1365-row target)
  assert.equal(groupSequences(4, 256, 4864), 2); // Qwen2.5-0.5B at 4 × 256: 2 groups of 2
  assert.equal(groupSequences(5, 300, 8192), 3); // 2 sequences reach 512 rows; 5 as 3 + 2, not 2 + 2 + 1
  assert.equal(groupSequences(1, 2048, 8192), 1);
  assert.equal(groupSequences(8, 64, 14336), 8); // 8 × 64 rows: one group
});

test("sequence groups: the checkpointed arena holds one group, and activationBytes predicts every layout", () => {
  const model = randomModel({}, 2);
  const rng = new Rng(2);
  attachLora(model, defaultLoraConfig({ targetModules: "all-linear" }), () => rng.next());
  const layouts = [
    { groupSeqs: 1 },
    { groupSeqs: 2, checkpoint: true },
    { groupSeqs: 1, checkpoint: true, rowChunk: 3 },
  ];
  for (const o of [...layouts, { groupSeqs: 1, checkpoint: true, wholeBatch: true }]) {
    assert.equal(activationBytes(model, 5, 7, o), allocateActivations(model, 5, 7, o).bytes, JSON.stringify(o));
  }
  const one = allocateActivations(model, 5, 7, { groupSeqs: 1, checkpoint: true });
  assert.deepEqual([one.micro, one.B, one.N, one.batchRows], [true, 1, 7, 35]);
  const whole = allocateActivations(model, 5, 7, { groupSeqs: 1, checkpoint: true, wholeBatch: true });
  assert.deepEqual([whole.micro, whole.B, whole.groupSeqs], [false, 5, 1]);
  assert.ok(one.bytes < whole.bytes, `${one.bytes} < ${whole.bytes}`);
});
