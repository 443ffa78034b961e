/**
 * The browser bundle's library parts (issue 22) against the Node paths they were split from: a safetensors file
 * made in memory is byte-identical to the file writeSafetensors writes, and read from memory gives readSafetensors'
 * tensors; the adapter files the page offers are byte-identical to saveAdapter's; the demo task's rows, encoded as
 * the page encodes them, are readDataset's examples of the same rows written as JSONL; the page's settings parse
 * and refuse as documented; and the bundle builds for the browser (the build refuses any node: import) and the
 * site holds the page, the bundle and the demo model.
 */
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { buildWeb } from "../../scripts/build-web.ts";
import { readDataset } from "../../src/data/dataset.ts";
import { trainExample } from "../../src/data/train-example.ts";
import { generateTask } from "../../src/demo/task.ts";
import { writeTaskDataset } from "../../src/demo/task-files.ts";
import { readSafetensors } from "../../src/io/safetensors.ts";
import { readSafetensorsBytes, safetensorsBytes } from "../../src/io/safetensors-bytes.ts";
import type { TensorToWrite } from "../../src/io/safetensors-format.ts";
import { writeSafetensors } from "../../src/io/safetensors-write.ts";
import { adapterParams, attachAdapter } from "../../src/lora/adapter.ts";
import { defaultLoraConfig } from "../../src/lora/config.ts";
import { saveAdapter } from "../../src/lora/peft-files.ts";
import { ADAPTER_CONFIG, ADAPTER_WEIGHTS, adapterFileContents } from "../../src/lora/peft-format.ts";
import { assembleModel } from "../../src/model/assemble.ts";
import { DEMO_MODEL_DIR } from "../../src/model/load.ts";
import { Rng } from "../../src/tensor/rng.ts";
import { loadTokenizer } from "../../src/tokenizer/load-tokenizer.ts";
import { parseSettings, trainFlags, WEB_DEFAULTS } from "../../src/web/settings.ts";
import { randomTensors, tinyConfig } from "../helpers/random-model.ts";

const work = mkdtempSync(join(tmpdir(), "lt-web-bundle-"));
after(() => rmSync(work, { recursive: true, force: true }));

test("safetensors in memory: the bytes writeSafetensors writes, and readSafetensors' tensors back", () => {
  const rng = new Rng(3);
  const f32 = Float32Array.from({ length: 35 }, () => rng.next() - 0.5);
  const tensors = new Map<string, TensorToWrite>([
    ["b.weight", { dtype: "F32", shape: [5, 7], data: f32 }],
    ["a.weight", { dtype: "BF16", shape: [35], data: f32 }],
    ["c.bias", { dtype: "F16", shape: [7, 5], data: f32 }],
    ["d.bits", { dtype: "BF16", shape: [3], data: Uint16Array.from([0x3f80, 0xbf80, 0x0001]) }],
  ]);
  const path = join(work, "mixed.safetensors");
  writeSafetensors(path, tensors, { format: "pt" });
  const bytes = safetensorsBytes(path, tensors, { format: "pt" });
  assert.ok(Buffer.from(bytes).equals(readFileSync(path)), "same bytes as the file");
  for (const as of ["f32", "bf16"] as const) {
    const fromFile = readSafetensors(path, as);
    const fromBytes = readSafetensorsBytes(bytes, path, as);
    assert.deepEqual([...fromBytes.keys()], [...fromFile.keys()]);
    for (const [name, t] of fromFile) assert.deepEqual(fromBytes.get(name), t, `${name} as ${as}`);
  }
  // The header's checks are the file reader's: a cut file is refused the same way.
  assert.throws(
    () => readSafetensorsBytes(bytes.subarray(0, bytes.length - 2), "cut", "f32"),
    /belong to no tensor|past the/,
  );
});

test("the demo model read from its bytes is the model read from its file", () => {
  const path = join(DEMO_MODEL_DIR, "model.safetensors");
  const fromBytes = readSafetensorsBytes(readFileSync(path), path, "f32");
  const fromFile = readSafetensors(path, "f32");
  assert.equal(fromBytes.size, fromFile.size);
  for (const [name, t] of fromFile) assert.deepEqual(fromBytes.get(name)!.data, t.data, name);
});

test("the adapter files the page offers are saveAdapter's, byte for byte", () => {
  const config = tinyConfig();
  const model = assembleModel(config, randomTensors(config, 5), "f32", "tiny");
  const lora = defaultLoraConfig({ r: 4, loraAlpha: 8, targetModules: "all-linear" }, model.family);
  const rng = new Rng(9);
  attachAdapter(model, lora, () => rng.next());
  // Nonzero B, so the values are checked too.
  for (const p of adapterParams(model)) for (let i = 0; i < p.data.length; i++) p.data[i] = Math.sin(i + 1);
  const dir = join(work, "adapter");
  saveAdapter(dir, model, lora, "base/name");
  const files = adapterFileContents(model, lora, "base/name", "memory");
  assert.equal(files.configText, readFileSync(join(dir, ADAPTER_CONFIG), "utf8"));
  const bytes = safetensorsBytes(ADAPTER_WEIGHTS, files.weights, files.metadata);
  assert.ok(Buffer.from(bytes).equals(readFileSync(join(dir, ADAPTER_WEIGHTS))));
});

test("the demo task's rows encode as readDataset encodes them from train.jsonl", async () => {
  const tok = loadTokenizer(DEMO_MODEL_DIR);
  const seqLen = 24; // short enough that some rows are cut
  const data = await writeTaskDataset(join(work, "task"), { seed: 4, trainSize: 30, testSize: 2 });
  const read = readDataset(data.trainPath, tok, {
    seqLen,
    trainOnPrompt: false,
    trainOnAllMessages: false,
    vocabSize: 1024,
  });
  const rows = generateTask({ seed: 4, trainSize: 30, testSize: 2 }).train;
  const opts = { seqLen, trainOnPrompt: false, trainOnAllMessages: false, vocabSize: 1024 };
  const mine = rows
    .map((r, i) => trainExample({ shape: "prompt_completion", ...r }, tok, opts, { file: "rows", line: i + 1 }))
    .filter((t) => t.labelTokens > 0)
    .map((t) => t.example);
  assert.ok(read.stats.truncated > 0, "some rows are cut");
  assert.deepEqual(mine, read.examples);
});

test("the page's settings: defaults, query names, refusals, and the train command", () => {
  assert.deepEqual(
    parseSettings(() => null),
    WEB_DEFAULTS,
  );
  const q = new URLSearchParams("steps=30&batch-size=2&lr=5e-4&lr-schedule=linear&targets=q_proj,v_proj");
  const s = parseSettings((n) => q.get(n));
  assert.equal(s.steps, 30);
  assert.equal(s.batchSize, 2);
  assert.equal(s.lr, 5e-4);
  assert.equal(s.lrSchedule, "linear");
  assert.equal(s.targets, "q_proj,v_proj");
  assert.throws(() => parseSettings((n) => (n === "steps" ? "2.5" : null)), /steps must be an integer >= 1/);
  assert.throws(() => parseSettings((n) => (n === "batch-size" ? "0" : null)), /batch-size must be an integer >= 1/);
  assert.throws(() => parseSettings((n) => (n === "lr" ? "fast" : null)), /lr must be a number/);
  assert.throws(
    () => parseSettings((n) => (n === "lr-schedule" ? "step" : null)),
    /lr-schedule must be constant, linear, cosine/,
  );
  assert.ok(trainFlags(s).includes("--targets=q_proj,v_proj") && trainFlags(s).includes("--batch-size=2"));
});

test("the site builds: index.html, one bundle without node: modules, the demo model", async () => {
  const out = join(work, "site");
  writeFileSync(join(work, "stale"), "");
  const b = await buildWeb(out);
  for (const f of [
    "index.html",
    "loratune-web.js",
    "model/config.json",
    "model/model.safetensors",
    "model/tokenizer.json",
  ]) {
    assert.ok(existsSync(join(out, f)), f);
  }
  const js = readFileSync(join(out, "loratune-web.js"), "utf8");
  assert.equal(b.bundleBytes, Buffer.byteLength(js));
  assert.doesNotMatch(js, /require\(["']node:|from ?["']node:/);
  const html = readFileSync(join(out, "index.html"), "utf8");
  assert.match(html, /<script src="loratune-web\.js"><\/script>/);
  assert.doesNotMatch(html, /(src|href)="\//, "every URL is relative (the site works in any folder)");
});
