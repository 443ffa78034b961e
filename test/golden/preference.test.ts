/**
 * Preference tuning against PyTorch (test/fixtures/golden/preference, by scripts/golden/preference_dump.py):
 * for DPO, cDPO (label smoothing), IPO and ORPO on one batch of 3 pairs (tiny model, q_proj,v_proj adapter), the
 * policy and adapter-off reference sequence log-probs, the loss, the rewards and every LoRA gradient.
 * Tolerances: log-probs 1e-4 absolute, loss 1e-5 relative, gradients 1e-3 relative (as the parity tests).
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import type { Batch } from "../../src/data/batch.ts";
import { rowLogps } from "../../src/data/preference-batch.ts";
import { getKernels } from "../../src/kernels/index.ts";
import { refKernels } from "../../src/kernels/ref/index.ts";
import { loraParams } from "../../src/lora/adapter.ts";
import { loadAdapter } from "../../src/lora/peft-files.ts";
import { allocateActivations } from "../../src/model/activations.ts";
import { loadModel } from "../../src/model/load.ts";
import { zeroGrads } from "../../src/tensor/trainable.ts";
import type { PreferenceSettings } from "../../src/train/preference-loss.ts";
import { preferenceEvaluate, preferenceStep, referenceLogps } from "../../src/train/preference-objective.ts";
import { GOLDEN, inputFromRows } from "./golden-helpers.ts";

interface PreferenceDump {
  case: { method: "dpo" | "ipo" | "orpo"; beta?: number; label_smoothing?: number; orpo_lambda?: number };
  loss: number;
  policy_logps: number[];
  reference_logps: number[];
  completion_tokens: number[];
  chosen_rewards: number[];
  rejected_rewards: number[];
  lora_grads: Record<string, { shape: number[]; l2: number; first8: number[] }>;
}

const DIR = join(GOLDEN, "preference");
const read = (name: string) => JSON.parse(readFileSync(join(DIR, name), "utf8"));
const l2 = (a: Float32Array) => Math.sqrt(a.reduce((s, x) => s + x * x, 0));

function goldenBatch(): Batch {
  const raw = read("batch.json") as { input_ids: number[][]; labels: number[][] };
  const input = inputFromRows(raw.input_ids, raw.labels);
  let n = 0;
  for (const t of input.targets) if (t !== -100) n++;
  return { ...input, nLabelTokens: n };
}

function settingsOf(d: PreferenceDump): PreferenceSettings {
  return {
    method: d.case.method,
    beta: d.case.beta ?? 0.1,
    labelSmoothing: d.case.label_smoothing ?? 0,
    orpoLambda: d.case.orpo_lambda ?? 0.1,
  };
}

for (const kernels of new Set([refKernels, getKernels()])) {
  for (const name of ["dpo", "dpo-smooth", "ipo", "orpo"]) {
    test(`preference ${name} matches PyTorch: log-probs, loss, rewards, LoRA gradients (${kernels.name} kernels)`, () => {
      const dump = read(`${name}.json`) as PreferenceDump;
      const model = loadModel(join(GOLDEN, "models", "tiny"));
      loadAdapter(join(GOLDEN, "parity", "tiny-qv", "adapter"), model, true);
      const batch = goldenBatch();
      const acts = allocateActivations(model, batch.B, batch.T, { withGrad: true });
      const pref = settingsOf(dump);

      const ref = referenceLogps(kernels, model, acts, batch);
      dump.reference_logps.forEach((want, i) => {
        assert.ok(Math.abs(ref[i]! - want) < 1e-4, `ref[${i}] ${ref[i]} vs ${want}`);
      });

      const evald = preferenceEvaluate(kernels, model, acts, [batch], pref);
      const { logp, tokens } = rowLogps(batch, acts.losses);
      dump.policy_logps.forEach((want, i) => {
        assert.ok(Math.abs(logp[i]! - want) < 1e-4, `policy[${i}] ${logp[i]} vs ${want}`);
      });
      assert.deepEqual(Array.from(tokens), dump.completion_tokens);

      const params = loraParams(model);
      zeroGrads(params);
      const stepped = preferenceStep(kernels, model, acts, [batch], pref, null);
      for (const got of [stepped.loss, evald.loss]) {
        assert.ok(Math.abs(got - dump.loss) <= 1e-5 * Math.abs(dump.loss), `loss ${got} vs ${dump.loss}`);
      }
      const mean = (a: number[]) => a.reduce((s, x) => s + x, 0) / a.length;
      const m = stepped.preference!;
      assert.ok(Math.abs(m.chosenReward - mean(dump.chosen_rewards)) < 1e-5, `chosen reward ${m.chosenReward}`);
      assert.ok(Math.abs(m.rejectedReward - mean(dump.rejected_rewards)) < 1e-5, `rejected reward ${m.rejectedReward}`);
      const acc = mean(dump.chosen_rewards.map((c, i) => (c > dump.rejected_rewards[i]! ? 1 : 0)));
      assert.equal(m.rewardAccuracy, acc);

      assert.equal(params.length, Object.keys(dump.lora_grads).length);
      for (const p of params) {
        const want = dump.lora_grads[p.name];
        assert.ok(want, `no golden gradient for ${p.name}`);
        assert.deepEqual(p.shape, want.shape, p.name);
        const got = l2(p.grad);
        assert.ok(Math.abs(got - want.l2) <= 1e-3 * want.l2 + 1e-9, `${p.name} grad L2 ${got} vs ${want.l2}`);
        for (let i = 0; i < 8; i++) {
          assert.ok(
            Math.abs(p.grad[i]! - want.first8[i]!) <= 1e-3 * want.l2 + 1e-9,
            `${p.name}[${i}] ${p.grad[i]} vs ${want.first8[i]}`,
          );
        }
      }
    });
  }
}
