/**
 * The gpt2 family against PyTorch (test/fixtures/golden/gpt2, scripts/golden/gpt2_dump.py: Hugging Face's GPT-2
 * math, PEFT's LoRA on Conv1D with fan_in_fan_out): loss, logits and every LoRA gradient over c_attn, c_proj and
 * c_fc; the KV-cache greedy decode against full forwards; 5 AdamW steps; the merge written in Conv1D's [in, out]
 * layout. PEFT's adapter layout both ways: loratune saves the keys, shapes and fan_in_fan_out PEFT saves; a
 * PEFT config with target_modules ["c_attn", "c_proj"] (suffix-matched: both c_proj) loads; fan_in_fan_out false
 * on GPT-2 is corrected to true with PEFT's warning.
 */
import assert from "node:assert/strict";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { readSafetensors } from "../../src/io/safetensors.ts";
import { writeSafetensors } from "../../src/io/safetensors-write.ts";
import type { LoraConfig } from "../../src/lora/config.ts";
import { loadAdapter, saveAdapter } from "../../src/lora/peft-files.ts";
import { loadModel } from "../../src/model/load.ts";
import { familyGolden } from "./family-golden.ts";

const {
  model: MODEL,
  adapter: ADAPTER,
  work,
  dump,
  meanLoss,
} = familyGolden({
  dir: "gpt2",
  label: "gpt2",
  targets: "(c_attn, c_proj, c_fc; fan_in_fan_out)",
  params: { count: 16, what: "2 layers x (c_attn, attn.c_proj, c_fc, mlp.c_proj) x (A, B)" },
  adamMoveTol: 1e-2,
  merged: {
    count: 8,
    title: "c_attn ([in, out] as Conv1D stores it)",
    weight: "transformer.h.0.attn.c_attn.weight",
    dumpKey: "c_attn0",
    name: "c_attn",
    headStored: false,
  },
  save: {
    title: "same keys and shapes, fan_in_fan_out true, and reload",
    check(saved, json) {
      assert.ok(saved.has("base_model.model.transformer.h.1.mlp.c_proj.lora_B.weight"));
      assert.equal(json.fan_in_fan_out, true);
      assert.deepEqual(json.target_modules, ["c_attn", "c_fc", "c_proj"]);
    },
  },
});

/** An adapter dir with the golden adapter's tensors for the modules `keep` matches and config `overrides`. */
function adapterVariant(name: string, keep: RegExp, overrides: Record<string, unknown>): string {
  const dir = join(work, name);
  mkdirSync(dir);
  const config = JSON.parse(readFileSync(join(ADAPTER, "adapter_config.json"), "utf8"));
  writeFileSync(join(dir, "adapter_config.json"), JSON.stringify({ ...config, ...overrides }));
  const source = readSafetensors(join(ADAPTER, "adapter_model.safetensors"), "f32");
  const kept = [...source].filter(([key]) => keep.test(key));
  const tensors = new Map(
    kept.map(([key, t]) => [key, { dtype: "F32" as const, shape: t.shape, data: t.data as Float32Array }]),
  );
  writeSafetensors(join(dir, "adapter_model.safetensors"), tensors, { format: "pt" });
  return dir;
}

test("a PEFT gpt2 config with target_modules [c_attn, c_proj] and fan_in_fan_out true loads: c_proj matches both", () => {
  const dir = adapterVariant("attn-proj", /\.(c_attn|c_proj)\.lora_/, { target_modules: ["c_attn", "c_proj"] });
  const model = loadModel(MODEL);
  loadAdapter(dir, model);
  const adapted = model.linears.filter((l) => l.adapter).map((l) => l.name);
  assert.deepEqual(adapted, [
    "transformer.h.0.attn.c_attn",
    "transformer.h.0.attn.c_proj",
    "transformer.h.0.mlp.c_proj",
    "transformer.h.1.attn.c_attn",
    "transformer.h.1.attn.c_proj",
    "transformer.h.1.mlp.c_proj",
  ]);
});

test("fan_in_fan_out false on gpt2 is set to true with PEFT's warning, and the adapter computes the same", () => {
  const dir = adapterVariant("no-fan", /lora_/, { fan_in_fan_out: false });
  const warnings: { message: string; code: string | undefined }[] = [];
  const emit = process.emitWarning;
  process.emitWarning = ((message: string, options?: { code?: string }) => {
    warnings.push({ message, code: options?.code });
  }) as typeof process.emitWarning;
  const model = loadModel(MODEL);
  let config: LoraConfig;
  try {
    config = loadAdapter(dir, model) as LoraConfig;
  } finally {
    process.emitWarning = emit;
  }
  assert.deepEqual(warnings, [
    {
      message:
        "fan_in_fan_out is set to False but the target module is `Conv1D`. Setting fan_in_fan_out to True. " +
        "(transformer.h.0.attn.c_attn and 7 more)",
      code: "FAN_IN_FAN_OUT",
    },
  ]);
  assert.equal(config.fanInFanOut, true);
  assert.ok(Math.abs(meanLoss(model) - dump.loss) <= 1e-5 * dump.loss);
  const saved = join(work, "no-fan-saved");
  saveAdapter(saved, model, config, null);
  assert.equal(JSON.parse(readFileSync(join(saved, "adapter_config.json"), "utf8")).fan_in_fan_out, true);
});
