/**
 * Packing is exact: examples packed into one row (segment ids, restarted positions) give the same per-example
 * losses as the same examples run one per row, and padding never contributes.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { collate, makeBatches } from "../../src/data/batch.ts";
import type { Example } from "../../src/data/encode.ts";
import { refKernels as k } from "../../src/kernels/ref/index.ts";
import { allocateActivations } from "../../src/model/activations.ts";
import { evalLossSum } from "../../src/model/loss.ts";
import { Rng } from "../../src/tensor/rng.ts";
import { randomModel } from "../helpers/random-model.ts";

function examples(vocab: number): Example[] {
  const rng = new Rng(9);
  return [5, 9, 3, 7].map((len, i) => {
    const ids = Array.from({ length: len }, () => rng.nextInt(vocab));
    return { ids, labels: ids.map((id, t) => (i === 1 && t < 3 ? -100 : id)) };
  });
}

test("packed rows give the same loss as one example per row", () => {
  const model = randomModel({ model_type: "qwen2" }, 51);
  const ex = examples(model.config.vocabSize);
  const packed = collate(ex, [[0, 1, 2, 3]], { batchSize: 1, seqLen: 24, pack: true });
  assert.ok(packed.seg, "packed batches carry segment ids");
  const unpacked = makeBatches(ex, { batchSize: 4, seqLen: 24 });
  const lossOf = (b: typeof packed) =>
    evalLossSum(k, model, allocateActivations(model, b.B, b.T, { withGrad: false }), b);
  const a = lossOf(packed);
  const b = unpacked.reduce((s, batch) => s + lossOf(batch), 0);
  assert.equal(
    packed.nLabelTokens,
    unpacked.reduce((s, x) => s + x.nLabelTokens, 0),
  );
  assert.ok(Math.abs(a - b) <= 1e-4 * Math.abs(b), `packed ${a} vs unpacked ${b}`);
});

test("padding does not change the loss of a row", () => {
  const model = randomModel({}, 52);
  const ex = examples(model.config.vocabSize).slice(0, 1);
  const tight = collate(ex, [[0]], { batchSize: 1, seqLen: 24 });
  const padded = collate(ex, [[0]], { batchSize: 1, seqLen: 24, padToSeqLen: true, padId: 3 });
  assert.ok(padded.T > tight.T);
  const lossOf = (b: typeof tight) =>
    evalLossSum(k, model, allocateActivations(model, b.B, b.T, { withGrad: false }), b);
  assert.ok(Math.abs(lossOf(tight) - lossOf(padded)) < 1e-5 * lossOf(tight));
});
