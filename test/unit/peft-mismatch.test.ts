/**
 * An adapter for a different base model is refused in one line naming the dimension that differs (hidden size,
 * intermediate size, layer count, attention widths), never a list of shapes or a count of bytes; genuinely
 * missing or unexpected keys are still listed, and ranks that disagree with the weights are named.
 */
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { isLoratuneError } from "../../src/errors.ts";
import { readSafetensors } from "../../src/io/safetensors.ts";
import { writeSafetensors } from "../../src/io/safetensors-write.ts";
import { attachLora, detachLora, loraTensors } from "../../src/lora/adapter.ts";
import { defaultLoraConfig, type LoraConfig } from "../../src/lora/config.ts";
import { loadAdapter, saveAdapter } from "../../src/lora/peft-files.ts";
import type { Model } from "../../src/model/model.ts";
import { randomModel } from "../helpers/random-model.ts";

const work = mkdtempSync(join(tmpdir(), "lt-peft-mismatch-"));
after(() => rmSync(work, { recursive: true, force: true }));

let n = 0;
/** Saves a random adapter for a model built with `overrides` (tinyConfig: hidden 16, 2 layers, intermediate 24). */
function adapterFor(overrides: Record<string, unknown>, lora: Partial<LoraConfig> = {}): string {
  const model = randomModel(overrides);
  const config = defaultLoraConfig(lora);
  attachLora(model, config, () => 0.3);
  const dir = join(work, `a${n++}`);
  saveAdapter(dir, model, config, "some-org/base-model");
  return dir;
}

/** The error loading `dir` onto `model` throws (asserting that it throws a LoratuneError), and that model has no LoRA left. */
function loadError(dir: string, model: Model): string {
  let caught: unknown = null;
  try {
    loadAdapter(dir, model);
  } catch (err) {
    caught = err;
  }
  assert.ok(isLoratuneError(caught), `expected a LoratuneError, got ${String(caught)}`);
  assert.equal(caught.code, "ERR_ADAPTER_KEYS");
  assert.equal(loraTensors(model).length, 0, "the model is left without LoRA");
  assert.doesNotMatch(caught.message, /bytes/);
  return caught.message;
}

test("a different hidden size: one line, naming both values and the adapter's base model", () => {
  const dir = adapterFor({ hidden_size: 32 });
  const msg = loadError(dir, randomModel());
  assert.equal(
    msg,
    `${dir}: adapter was trained on a model with hidden size 32 (its base model: "some-org/base-model"); ` +
      "this model has hidden size 16",
  );
});

test("a different intermediate size and layer count, either way round", () => {
  const all = { targetModules: "all-linear" } as const;
  assert.match(
    loadError(adapterFor({ intermediate_size: 48 }, all), randomModel()),
    /adapter was trained on a model with intermediate size 48 \(.*\); this model has intermediate size 24$/,
  );
  assert.match(
    loadError(adapterFor({ num_hidden_layers: 4 }), randomModel()),
    /adapter was trained on a model with 4 layers \(.*\); this model has 2 layers$/,
  );
  assert.match(
    loadError(adapterFor({}), randomModel({ num_hidden_layers: 3 })),
    /adapter was trained on a model with 2 layers \(.*\); this model has 3 layers$/,
  );
  const both = loadError(adapterFor({ hidden_size: 32, num_hidden_layers: 3 }, all), randomModel());
  assert.match(both, /with hidden size 32 and 3 layers \(.*\); this model has hidden size 16 and 2 layers$/);
  assert.equal(both.split("\n").length, 1);
});

test("only the attention width differs (same hidden size, another head layout): named as such", () => {
  const msg = loadError(adapterFor({ num_key_value_heads: 4 }), randomModel());
  assert.match(
    msg,
    /key\/value width \(key\/value heads × head dim\) 16 \(.*\); this model has key\/value width .* 8$/,
  );
});

test("genuinely missing and unexpected keys are still listed; a config whose ranks do not match is named", () => {
  const dir = adapterFor({});
  const weights = join(dir, "adapter_model.safetensors");
  const tensors = readSafetensors(weights, "f32");
  const gone = "base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight";
  const t = tensors.get(gone)!;
  tensors.delete(gone);
  tensors.set("base_model.model.model.layers.0.mlp.up_proj.lora_A.weight", t);
  writeSafetensors(
    weights,
    new Map([...tensors].map(([k, v]) => [k, { dtype: "F32" as const, shape: v.shape, data: v.data as Float32Array }])),
    { format: "pt" },
  );
  const msg = loadError(dir, randomModel());
  assert.match(
    msg,
    /the adapter does not fit this model:\n {2}missing .*q_proj\.lora_A\.weight \[8, 16\]\n {2}unexpected .*up_proj\.lora_A\.weight$/,
  );

  const ranked = adapterFor({});
  const cfgPath = join(ranked, "adapter_config.json");
  writeFileSync(cfgPath, JSON.stringify({ ...JSON.parse(readFileSync(cfgPath, "utf8")), r: 4 }));
  const r = loadError(ranked, randomModel());
  assert.match(
    r,
    /adapter_config\.json: the ranks it gives do not match adapter_model\.safetensors: .*q_proj \(r 4 in the config, 8 in the weights\)/,
  );
});

test("a matching adapter still loads, with its weights", () => {
  const dir = adapterFor({});
  const model = randomModel();
  loadAdapter(dir, model);
  assert.equal(loraTensors(model).length, 8);
  detachLora(model);
});
