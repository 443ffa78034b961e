import assert from "node:assert/strict";
import { test } from "node:test";
import { collate, countTargets, makeBatches, planBatches, truncateExample } from "../../src/data/batch.ts";
import type { Example } from "../../src/data/encode.ts";
import { Rng, shuffleInPlace } from "../../src/tensor/rng.ts";

const X = -100;
const A: Example = { ids: [11, 12, 13], labels: [X, 12, 13] };
const B: Example = { ids: [21, 22, 23, 24], labels: [X, X, 23, 24] };
const C: Example = { ids: [31, 32], labels: [X, 32] };

test("unpacked: rows padded to the longest, targets shifted, padding and example ends never trained", () => {
  const [b, ...rest] = makeBatches([A, B, C], { batchSize: 2, seqLen: 8, padId: 99 });
  assert.equal(rest.length, 1);
  assert.ok(b);
  assert.equal(b.B, 2);
  assert.equal(b.T, 4);
  assert.deepEqual([...b.ids], [11, 12, 13, 99, 21, 22, 23, 24]);
  assert.deepEqual([...b.targets], [12, 13, X, X, X, 23, 24, X]);
  assert.deepEqual([...b.pos], [0, 1, 2, 0, 0, 1, 2, 3]);
  assert.equal(b.seg, null);
  assert.equal(b.nLabelTokens, 4);
  const last = rest[0];
  assert.ok(last);
  assert.equal(last.B, 1, "the last batch keeps its single row");
  assert.deepEqual([...last.ids], [31, 32]);
  assert.deepEqual([...last.targets], [32, X]);
  assert.equal(makeBatches([A, B, C], { batchSize: 2, seqLen: 8, dropLast: true }).length, 1);
  const fixed = makeBatches([A], { batchSize: 1, seqLen: 6, padToSeqLen: true })[0];
  assert.deepEqual([...(fixed?.ids ?? [])], [11, 12, 13, 0, 0, 0], "pad id defaults to 0");
});

test("packed: examples share rows, positions restart, seg ids separate them, padding seg -1", () => {
  const batches = makeBatches([A, B, C], { batchSize: 2, seqLen: 8, pack: true, padId: 7 });
  assert.equal(batches.length, 1);
  const b = batches[0];
  assert.ok(b);
  assert.equal(b.B, 2);
  assert.equal(b.T, 8);
  // Row 0: A (3) + B (4) = 7 tokens + 1 pad; C does not fit and starts row 1.
  assert.deepEqual([...b.ids], [11, 12, 13, 21, 22, 23, 24, 7, 31, 32, 7, 7, 7, 7, 7, 7]);
  assert.deepEqual([...b.targets], [12, 13, X, X, 23, 24, X, X, 32, X, X, X, X, X, X, X]);
  assert.deepEqual([...b.pos], [0, 1, 2, 0, 1, 2, 3, 0, 0, 1, 0, 0, 0, 0, 0, 0]);
  assert.deepEqual([...(b.seg ?? [])], [0, 0, 0, 1, 1, 1, 1, -1, 0, 0, -1, -1, -1, -1, -1, -1]);
  assert.equal(b.nLabelTokens, 5);
  // The trained tokens are the same whether packed or not.
  const unpacked = makeBatches([A, B, C], { batchSize: 3, seqLen: 8 });
  assert.equal(unpacked[0]?.nLabelTokens, b.nLabelTokens);
});

test("packing fills rows greedily in order and an exactly-fitting example closes a row", () => {
  const ex = (n: number): Example => ({ ids: new Array(n).fill(1), labels: new Array(n).fill(1) });
  const plan = planBatches([4, 4, 3, 5, 8, 1], { batchSize: 10, seqLen: 8, pack: true });
  assert.deepEqual(plan, [[[0, 1], [2, 3], [4], [5]]]);
  const b = collate([ex(4), ex(4), ex(3), ex(5), ex(8), ex(1)], plan[0] ?? [], {
    batchSize: 10,
    seqLen: 8,
    pack: true,
  });
  assert.equal(b.nLabelTokens, 3 + 3 + 2 + 4 + 7 + 0);
  assert.throws(() => planBatches([9], { batchSize: 1, seqLen: 8 }), /example 0 has 9 tokens, more than seqLen 8/);
  assert.throws(() => planBatches([1], { batchSize: 0, seqLen: 8 }), /batch size must be a positive integer/);
});

test("shuffle is deterministic given the seed, covers every example once, differs across seeds", () => {
  const lengths = Array.from({ length: 50 }, (_, i) => 1 + (i % 7));
  const opts = { batchSize: 4, seqLen: 16, shuffle: true, seed: 1234 };
  const p1 = planBatches(lengths, opts);
  const p2 = planBatches(lengths, opts);
  assert.deepEqual(p1, p2);
  const flat = p1.flat(2);
  assert.deepEqual(
    [...flat].sort((a, b) => a - b),
    lengths.map((_, i) => i),
  );
  assert.notDeepEqual(
    flat,
    lengths.map((_, i) => i),
    "shuffled, not in file order",
  );
  assert.notDeepEqual(planBatches(lengths, { ...opts, seed: 1235 }).flat(2), flat);
  const packed = planBatches(lengths, { ...opts, pack: true }).flat(2);
  assert.equal(new Set(packed).size, 50);
});

test("truncateExample and countTargets", () => {
  assert.deepEqual(truncateExample(B, 3), { example: { ids: [21, 22, 23], labels: [X, X, 23] }, truncated: true });
  assert.equal(truncateExample(B, 4).truncated, false);
  assert.equal(truncateExample(B, 4).example, B);
  assert.equal(countTargets(B), 2);
  assert.equal(countTargets({ ids: [5], labels: [5] }), 0, "position 0 is never a target");
});

test("Rng: reproducible, resumable from its state, uniform enough, shuffle is a permutation", () => {
  const a = new Rng(42);
  const b = new Rng(42);
  const xs = Array.from({ length: 5 }, () => a.nextU32());
  assert.deepEqual(
    Array.from({ length: 5 }, () => b.nextU32()),
    xs,
  );
  assert.notDeepEqual(
    Array.from({ length: 5 }, () => new Rng(43).nextU32()),
    xs,
  );
  const r = new Rng(7);
  r.next();
  const state = r.getState();
  const ahead = [r.next(), r.nextInt(10), r.next()];
  const resumed = new Rng(0);
  resumed.setState(state);
  assert.deepEqual([resumed.next(), resumed.nextInt(10), resumed.next()], ahead);
  const counts = new Array(10).fill(0);
  const u = new Rng(1);
  for (let i = 0; i < 20000; i++) counts[u.nextInt(10)]++;
  for (const c of counts) assert.ok(c > 1800 && c < 2200, `bucket count ${c}`);
  for (let i = 0; i < 1000; i++) {
    const f = u.next();
    assert.ok(f >= 0 && f < 1);
  }
  const arr = Array.from({ length: 20 }, (_, i) => i);
  shuffleInPlace(arr, new Rng(3));
  assert.deepEqual(
    [...arr].sort((x, y) => x - y),
    Array.from({ length: 20 }, (_, i) => i),
  );
  assert.throws(() => new Rng(Number.NaN), /seed must be finite/);
  assert.throws(() => u.nextInt(0), /bad bound/);
});
