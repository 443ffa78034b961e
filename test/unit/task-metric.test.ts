import assert from "node:assert/strict";
import { test } from "node:test";
import { getKernels } from "../../src/kernels/index.ts";
import { generateTokens } from "../../src/model/generate.ts";
import {
  checkTaskMetricData,
  cutToLines,
  exactMatch,
  scoreCompletions,
  taskItems,
} from "../../src/train/task-metric.ts";
import { randomModel } from "../helpers/random-model.ts";

const I = -100;

test("taskItems: the prompt is every token before the first label, the reference the first labelled run", () => {
  const items = taskItems([
    { ids: [1, 5, 6, 7, 8, 2], labels: [I, I, I, 7, 8, 2] },
    { ids: [1, 3, 4, 9, 9, 4, 2], labels: [I, I, 4, I, I, 4, 2] }, // a second turn is not the reference
    { ids: [1, 2], labels: [I, I] }, // no label: not scorable
  ]);
  assert.deepEqual(items, [
    { prompt: [1, 5, 6], reference: [7, 8, 2] },
    { prompt: [1, 3], reference: [4] },
  ]);
});

test("exact match compares trailing-whitespace-trimmed text, cut to the reference's lines", () => {
  assert.ok(exactMatch("name: A \n", "name: A"));
  assert.ok(!exactMatch(" name: A", "name: A"));
  assert.equal(cutToLines("a\nb\nc", "x"), "a");
  assert.equal(cutToLines("a\nb\nc", "x\ny\n"), "a\nb");
});

test("scoreCompletions: a reference equal to the greedy completion scores 1, a changed one less", () => {
  const k = getKernels();
  const model = randomModel({ vocab_size: 37, max_position_embeddings: 64 }, 3);
  const prompts = [
    [1, 4, 9],
    [2, 7, 7, 3],
  ];
  const greedy = prompts.map(
    (p) => generateTokens(k, model, p, { maxTokens: 5, stopIds: model.config.eosTokenIds }).ids,
  );
  const same = prompts.map((prompt, i) => ({ prompt, reference: greedy[i]! }));
  const full = scoreCompletions(k, model, same, null);
  assert.equal(full.exactMatch, 1);
  assert.equal(full.tokenAccuracy, 1);
  assert.equal(full.rows, 2);
  // The first row's last reference token changed: that row is no longer exact, 9 of 10 tokens still are.
  const changed = same.map((it, i) =>
    i === 0 ? { ...it, reference: [...it.reference.slice(0, 4), (it.reference[4]! + 1) % 37] } : it,
  );
  const part = scoreCompletions(k, model, changed, null);
  assert.equal(part.exactMatch, 0.5);
  assert.equal(part.tokenAccuracy, 9 / 10);
  // Text through a decoder, one token a line: the prediction goes on past the reference and is cut to its lines.
  const decoder = { decode: (ids: ArrayLike<number>) => Array.from(ids).join("\n"), stopIds: [] };
  assert.equal(scoreCompletions(k, model, same, decoder).exactMatch, 1);
  assert.equal(scoreCompletions(k, model, changed, decoder).exactMatch, 0.5);
  // The first rows come back as samples to read: prompt, prediction and reference as text (ids without a decoder).
  assert.deepEqual(part.samples[0], {
    prompt: "1 4 9",
    prediction: part.predictions[0],
    reference: changed[0]!.reference.join(" "),
  });
  assert.equal(scoreCompletions(k, model, same, decoder).samples[1]!.prompt, "2\n7\n7\n3");
});

test("checkTaskMetricData refuses rows without a prompt, and --train-on-prompt, by name", () => {
  assert.throws(
    () => checkTaskMetricData([{ path: "val.jsonl", shape: "text" }], false),
    /val\.jsonl holds "text" rows/,
  );
  assert.throws(
    () => checkTaskMetricData([{ path: "val.jsonl", shape: "prompt_completion" }], true),
    /--train-on-prompt/,
  );
  checkTaskMetricData([{ path: "val.jsonl", shape: "messages" }], false);
});
