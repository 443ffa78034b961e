/**
 * Five AdamW steps of LoRA training on the tiny model against the PyTorch reference (train_ref.py): per-step
 * losses and the trained adapter, from a PEFT-initialised adapter (B = 0) and from one with B ≠ 0, and with LoRA+
 * (bnz-loraplus: lora_B at 16 × the learning rate, PyTorch AdamW parameter groups as PEFT's
 * create_loraplus_optimizer makes them).
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { readSafetensors } from "../../src/io/safetensors.ts";
import { getKernels } from "../../src/kernels/index.ts";
import { loraParams } from "../../src/lora/adapter.ts";
import { loadAdapter } from "../../src/lora/peft-files.ts";
import { allocateActivations } from "../../src/model/activations.ts";
import { loadModel } from "../../src/model/load.ts";
import { countLabelTokens, lossAndGrad } from "../../src/model/loss.ts";
import { zeroGrads } from "../../src/tensor/trainable.ts";
import { ADAMW_DEFAULTS, AdamW, loraPlusLrScales } from "../../src/train/adamw.ts";
import { GOLDEN, inputFromRows } from "./golden-helpers.ts";

const rows = readFileSync(join(GOLDEN, "train", "data.jsonl"), "utf8")
  .trim()
  .split("\n")
  .map((l) => JSON.parse(l) as { input_ids: number[]; labels?: number[] });

for (const [init, name, ratio] of [
  ["b0", "b0", 0],
  ["bnz", "bnz", 0],
  ["bnz", "bnz-loraplus", 16],
] as const) {
  test(`5 AdamW steps from ${init} match PyTorch: losses and trained adapter${ratio ? ` (LoRA+ ratio ${ratio})` : ""}`, () => {
    const k = getKernels();
    const model = loadModel(join(GOLDEN, "models", "tiny"));
    loadAdapter(join(GOLDEN, "train", init, "init"), model, true);
    const params = loraParams(model);
    const opt = new AdamW(params, ADAMW_DEFAULTS, loraPlusLrScales(params, ratio));
    const acts = allocateActivations(model, 4, 16, { withGrad: true });
    const want = JSON.parse(readFileSync(join(GOLDEN, "train", name, "losses.json"), "utf8")).losses as number[];
    for (let step = 0; step < 5; step++) {
      const batch = rows.slice(step * 4, step * 4 + 4);
      const input = inputFromRows(
        batch.map((r) => r.input_ids),
        batch.map((r) => r.labels),
      );
      zeroGrads(params);
      const n = countLabelTokens(input.targets);
      const loss = lossAndGrad(k, model, acts, input, 1 / n, null) / n;
      assert.ok(Math.abs(loss - want[step]!) <= 1e-5 * want[step]!, `step ${step + 1}: loss ${loss} vs ${want[step]}`);
      opt.update(k, 1e-3);
    }
    const trained = readSafetensors(join(GOLDEN, "train", name, "trained", "adapter_model.safetensors"), "f32");
    const initial = readSafetensors(join(GOLDEN, "train", init, "init", "adapter_model.safetensors"), "f32");
    for (const p of params) {
      const ref = trained.get(p.name)!.data as Float32Array;
      const start = initial.get(p.name)!.data as Float32Array;
      let maxErr = 0;
      let maxMove = 0;
      for (let i = 0; i < ref.length; i++) {
        maxErr = Math.max(maxErr, Math.abs(p.data[i]! - ref[i]!));
        maxMove = Math.max(maxMove, Math.abs(ref[i]! - start[i]!));
      }
      // The adapter moved by up to ~5e-3 in 5 steps; we must land within 1% of that movement.
      assert.ok(maxErr <= 1e-2 * maxMove + 1e-7, `${p.name}: max |Δ| ${maxErr} (reference moved ${maxMove})`);
    }
  });
}
