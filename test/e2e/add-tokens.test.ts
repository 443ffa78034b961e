/**
 * train --add-tokens end to end on the bundled demo model (tied, vocab 1024, tokenizer ids up to 1023): the run
 * keeps a tokenizer with the new tokens (ids 1024, 1025), the adapter holds their rows under PEFT's keys with
 * trainable_token_indices, evaluate loads the run's tokenizer and resizes the base, merge writes the grown
 * vocabulary with the same loss; a token already in the vocabulary, a GGUF export and --full are refused.
 */
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { loadForInference } from "../../src/api/models.ts";
import { evaluate, exportModel, isLoratuneError, loadAdapter, loadModel, merge, train } from "../../src/index.ts";
import { readSafetensors } from "../../src/io/safetensors.ts";

const DEMO = join(import.meta.dirname, "..", "..", "models", "demo");
const work = mkdtempSync(join(tmpdir(), "loratune-add-tokens-"));
after(() => rmSync(work, { recursive: true, force: true }));

const DATA = join(work, "data.jsonl");
writeFileSync(
  DATA,
  `${Array.from({ length: 8 }, (_, i) => JSON.stringify({ text: `call <|tool|>add ${i} ${i + 1}<|/tool|> done` })).join("\n")}\n`,
);
const quiet = { onMessage: () => {} };
const usage = (re: RegExp) => (e: unknown) => isLoratuneError(e) && e.code === "ERR_USAGE" && re.test(e.message);
const base = { model: DEMO, data: DATA, steps: 4, batchSize: 2, seqLen: 32, dtype: "f32" as const, lr: 1e-2 };

test("train --add-tokens: the run's tokenizer, PEFT's trainable tokens, evaluate and merge with the grown vocabulary", async () => {
  const out = join(work, "run");
  await train({ ...base, out, addTokens: "<|tool|>,<|/tool|>", ...quiet });

  const tok = JSON.parse(readFileSync(join(out, "tokenizer.json"), "utf8"));
  const added = tok.added_tokens.filter((t: { id: number }) => t.id >= 1024);
  assert.deepEqual(
    added.map((t: { id: number; content: string; special: boolean }) => [t.id, t.content, t.special]),
    [
      [1024, "<|tool|>", true],
      [1025, "<|/tool|>", true],
    ],
  );
  const config = JSON.parse(readFileSync(join(out, "adapter_config.json"), "utf8"));
  assert.deepEqual(config.trainable_token_indices, [1024, 1025]);
  const rows = readSafetensors(join(out, "adapter_model.safetensors"), "f32").get(
    "base_model.model.model.embed_tokens.token_adapter.trainable_tokens_delta",
  );
  assert.deepEqual(rows?.shape, [2, 256]);
  const data = rows!.data as Float32Array;
  assert.notDeepEqual(data.subarray(0, 256), data.subarray(256), "the two rows trained apart from their mean start");

  const loaded = loadForInference({ model: DEMO, adapter: out });
  assert.deepEqual(loaded.tokenizer!.encodeText("<|tool|>"), [1024]);
  assert.equal(loaded.model.config.vocabSize, 1026);
  const adapted = await evaluate({ model: DEMO, adapter: out, data: DATA });
  assert.ok(Number.isFinite(adapted.loss));

  const merged = join(work, "merged");
  await merge({ model: DEMO, adapter: out, out: merged });
  assert.equal(JSON.parse(readFileSync(join(merged, "config.json"), "utf8")).vocab_size, 1026);
  assert.match(readFileSync(join(merged, "tokenizer.json"), "utf8"), /<\|\/tool\|>/);
  const plain = await evaluate({ model: merged, data: DATA });
  assert.equal(plain.tokens, adapted.tokens);
  // 5e-4 relative: a plain LoRA merged on this model differs as much (1.5e-4 measured at lr 1e-2, 1.9e-4 at 1e-3).
  assert.ok(Math.abs(plain.loss - adapted.loss) <= 5e-4 * adapted.loss, `${plain.loss} vs ${adapted.loss}`);

  const held = await loadModel(DEMO, { adapter: out });
  assert.deepEqual(held.tokenizer!.encodeText("<|/tool|>"), [1025]);
  await assert.rejects(loadAdapter(held, out), usage(/wrote rows of new tokens into the model .*load the model again/));

  assert.throws(
    () => exportModel({ adapter: out, model: DEMO, out: join(work, "x.gguf"), separateAdapter: true }),
    usage(/trainable_token_indices.*merge it first/),
  );
});

test("train --add-tokens: an interrupted run resumes to the same adapter (the rows are checkpointed by their keys)", async () => {
  const out = join(work, "resumed");
  const controller = new AbortController();
  const stopped = await train({
    ...base,
    out,
    addTokens: "<|tool|>,<|/tool|>",
    signal: controller.signal,
    onEvent: (e) => {
      if (e.type === "step" && e.step === 2) controller.abort();
    },
    ...quiet,
  });
  assert.notEqual(stopped.reason, "completed");
  const resumed = await train({ ...base, out, addTokens: "<|tool|>,<|/tool|>", resume: out, ...quiet });
  assert.equal(resumed.reason, "completed");
  const weights = (dir: string) => readFileSync(join(dir, "adapter_model.safetensors"));
  assert.deepEqual(weights(out), weights(join(work, "run")));
});

test("train --add-tokens refuses a token already in the vocabulary, and --full", async () => {
  await assert.rejects(
    train({ ...base, out: join(work, "dup"), addTokens: "<|im_end|>", ...quiet }),
    usage(/"<\|im_end\|>" is already in .*tokenizer\.json \(id 1022\); transformers would reuse that id/),
  );
  await assert.rejects(
    train({ ...base, out: join(work, "full"), addTokens: "<|x|>", full: true, ...quiet }),
    usage(/addTokens trains new rows beside a fresh adapter; it cannot be combined with full: true/),
  );
});
