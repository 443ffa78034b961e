/**
 * PEFT's rank_pattern, alpha_pattern and layers_pattern written as well as read: the PyTorch-made adapter
 * (parity/tiny-patterns; its numbers are checked in test/golden/parity.test.ts) saved back by loratune keeps every
 * field and tensor and loads again; layers_pattern picks the layer index as PEFT does; the flag values parse and
 * print back.
 */
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import {
  parseLayersPattern,
  parsePatternMap,
  patternMapProblem,
  patternMapText,
} from "../../src/api/pattern-options.ts";
import { isLoratuneError } from "../../src/errors.ts";
import { inspectAdapter } from "../../src/inspect/inspect.ts";
import { adapterTensors } from "../../src/lora/adapter.ts";
import { matchesTarget } from "../../src/lora/config.ts";
import { loadAdapter, saveAdapter } from "../../src/lora/peft-files.ts";
import { loadModel } from "../../src/model/load.ts";
import { GOLDEN } from "../golden/golden-helpers.ts";

const work = mkdtempSync(join(tmpdir(), "lt-lora-patterns-"));
after(() => rmSync(work, { recursive: true, force: true }));

const KEYS = [
  "r",
  "lora_alpha",
  "rank_pattern",
  "alpha_pattern",
  "layers_to_transform",
  "layers_pattern",
  "target_modules",
];

test("a rank_pattern / alpha_pattern / layers_pattern adapter saves back with every field and tensor, and reloads", () => {
  const src = join(GOLDEN, "parity", "tiny-patterns", "adapter");
  const model = loadModel(join(GOLDEN, "models", "tiny"));
  const config = loadAdapter(src, model);
  const out = join(work, "saved");
  saveAdapter(out, model, config, null);
  const want = JSON.parse(readFileSync(join(src, "adapter_config.json"), "utf8"));
  const got = JSON.parse(readFileSync(join(out, "adapter_config.json"), "utf8"));
  for (const key of KEYS) assert.deepEqual(got[key], want[key], key);
  const again = loadModel(join(GOLDEN, "models", "tiny"));
  loadAdapter(out, again);
  const a = adapterTensors(model);
  const b = adapterTensors(again);
  assert.deepEqual(
    b.map((t) => [t.name, t.shape]),
    a.map((t) => [t.name, t.shape]),
  );
  assert.deepEqual(
    a.map((t) => t.shape),
    [
      [4, 64],
      [64, 4],
      [8, 64],
      [32, 8],
      [4, 64],
      [64, 4],
      [8, 64],
      [32, 8],
    ],
  );
  for (const [i, t] of a.entries()) assert.deepEqual(b[i]!.data, t.data, t.name);
});

test("layers_pattern: the index after '.<pattern>.' as PEFT reads it; the first matching pattern; none: not adapted", () => {
  const c = { targetModules: ["q_proj"], layersToTransform: [1] };
  assert.equal(matchesTarget({ ...c, layersPattern: ["layers"] }, "model.layers.1.self_attn.q_proj", 7), true);
  assert.equal(matchesTarget({ ...c, layersPattern: ["layers"] }, "model.layers.2.self_attn.q_proj", 1), false);
  assert.equal(matchesTarget({ ...c, layersPattern: ["h", "blocks"] }, "transformer.blocks.1.attn.q_proj", 0), true);
  assert.equal(matchesTarget({ ...c, layersPattern: ["h"] }, "model.layers.1.self_attn.q_proj", 1), false);
  assert.equal(
    matchesTarget({ ...c, layersPattern: null }, "model.layers.3.self_attn.q_proj", 1),
    true,
    "family index",
  );
  assert.equal(
    matchesTarget({ ...c, layersToTransform: null, layersPattern: ["h"] }, "model.layers.3.x.q_proj", 3),
    true,
  );
});

test("--rank-pattern / --alpha-pattern / --layers-pattern values parse, print back, and bad ones are named", () => {
  const map = parsePatternMap("--rank-pattern", "q_proj=4, layers\\.0\\..*=16", true);
  assert.deepEqual(map, { q_proj: 4, "layers\\.0\\..*": 16 });
  assert.equal(patternMapText(map), "q_proj=4,layers\\.0\\..*=16");
  assert.equal(patternMapText({}), undefined);
  assert.deepEqual(parsePatternMap("--alpha-pattern", "v_proj=0.5", false), { v_proj: 0.5 });
  assert.deepEqual(parseLayersPattern("layers, h"), ["layers", "h"]);
  assert.equal(parseLayersPattern(""), null);
  assert.match(patternMapProblem("q_proj=2.5", true)!, /"q_proj=2\.5": a positive integer is expected/);
  assert.match(patternMapProblem("q_proj", false)!, /"q_proj" is not KEY=N/);
  assert.match(patternMapProblem("=3", false)!, /"=3" is not KEY=N/);
  assert.throws(
    () => parsePatternMap("--rank-pattern", "v_proj=0", true),
    (e: unknown) => isLoratuneError(e) && /^--rank-pattern: "v_proj=0"/.test(e.message),
  );
});

test("inspect reports layers_pattern and modules_to_save (whose values count as trainable)", () => {
  const patterns = inspectAdapter(join(GOLDEN, "parity", "tiny-patterns", "adapter"));
  assert.deepEqual(patterns.layers_pattern, ["layers"]);
  assert.equal(patterns.modules_to_save, null);
  const modules = inspectAdapter(join(GOLDEN, "parity", "tiny-modules", "adapter"));
  assert.deepEqual(modules.modules_to_save, ["lm_head", "embed_tokens"]);
  const lora = 5 * (8 * 64 + 64 * 8 + 8 * 64 + 32 * 8);
  assert.equal(modules.trainable_params, lora + 2 * 512 * 64);
});
