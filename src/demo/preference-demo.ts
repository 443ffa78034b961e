/**
 * `loratune demo --dpo`: DPO on the bundled model. The held-out pairs (preference-task.ts) are scored before
 * training by the base model's own preference (log p(chosen) > log p(rejected): near chance), then a LoRA adapter is trained with DPO against the base (the same model
 * with the adapter off), and the same pairs are scored again: the tuned model's preference accuracy and DPO's
 * reward accuracy (chosen reward above rejected).
 */
import { join } from "node:path";
import { loadForInference } from "../api/models.ts";
import { train } from "../api/train.ts";
import { readPreferenceDataset } from "../data/preference.ts";
import { makePreferenceBatches } from "../data/preference-batch.ts";
import { LoratuneError } from "../errors.ts";
import { getKernels } from "../kernels/index.ts";
import { allocateActivations } from "../model/activations.ts";
import { DEMO_MODEL_DIR } from "../model/load.ts";
import type { PreferenceMetrics } from "../train/objective.ts";
import { PREFERENCE_DEFAULTS, type PreferenceSettings } from "../train/preference-loss.ts";
import { preferenceEvaluate } from "../train/preference-objective.ts";
import type { TrainEvent } from "../train/trainer.ts";
import { prepareDemoDir } from "./demo-dir.ts";
import { generatePreferenceTask } from "./preference-task.ts";

export interface PreferenceDemoOptions {
  out: string;
  seed: number;
  steps: number;
  trainSize: number;
  testSize: number;
  rank: number;
  lr: number;
  batchSize: number;
  onEvent?: (e: TrainEvent) => void;
  say: (text: string) => void;
}

export const PREFERENCE_DEMO_DEFAULTS = {
  seed: 7,
  steps: 150,
  trainSize: 1000,
  testSize: 100,
  rank: 16,
  lr: 1e-3,
  batchSize: 8,
};

export interface PreferenceDemoResult {
  /** The base model's own preference accuracy on the held-out pairs. */
  before: number;
  /** The tuned model's preference accuracy and DPO reward accuracy on them. */
  after: number;
  rewardAccuracy: number;
  outDir: string;
}

const SEQ_LEN = 128;
const pct = (x: number) => `${(100 * x).toFixed(0)}%`;

/** Held-out pair metrics of the model (with its adapter, if any) against itself without the adapter. */
function scorePairs(adapter: string | undefined, testFile: string, pref: PreferenceSettings): PreferenceMetrics {
  const m = loadForInference({ model: DEMO_MODEL_DIR, adapter });
  if (!m.tokenizer) throw new LoratuneError("ERR_TOKENIZER", `${DEMO_MODEL_DIR}: the demo model has no tokenizer`);
  const pairs = readPreferenceDataset([testFile], m.tokenizer, { seqLen: SEQ_LEN }).pairs;
  const batches = makePreferenceBatches(pairs, { batchSize: 8, seqLen: SEQ_LEN, padId: m.tokenizer.pad?.id ?? 0 });
  const acts = allocateActivations(m.model, 16, SEQ_LEN, { withGrad: false });
  return preferenceEvaluate(getKernels(), m.model, acts, batches, pref).preference!;
}

export async function runPreferenceDemo(o: PreferenceDemoOptions): Promise<PreferenceDemoResult> {
  const say = o.say;
  const task = generatePreferenceTask({ seed: o.seed, trainSize: o.trainSize, testSize: o.testSize });
  const files = prepareDemoDir(o.out, task);
  const runDir = join(o.out, "run");
  const pref: PreferenceSettings = { method: "dpo", ...PREFERENCE_DEFAULTS };
  const ex = task.test[0]!;
  say("The pairs: one sentence, the right card (chosen) and the card with another town (rejected):");
  say(`  ${ex.prompt.split("\n")[0]}\n    chosen:   ${ex.chosen}\n    rejected: ${ex.rejected}\n`);
  const before = scorePairs(undefined, files.test, pref).preferenceAccuracy;
  say(`held-out preference accuracy of the base model: ${pct(before)} (${task.test.length} pairs; chance is 50%)\n`);
  await train(
    {
      model: DEMO_MODEL_DIR,
      data: files.train,
      val: files.test,
      out: runDir,
      method: "dpo",
      rank: o.rank,
      alpha: 2 * o.rank,
      targets: "all-linear",
      steps: o.steps,
      batchSize: o.batchSize,
      seqLen: SEQ_LEN,
      seed: o.seed,
      lr: o.lr,
      maxGradNorm: 1,
      keepCheckpoints: 1,
    },
    {
      ...(o.onEvent ? { onEvent: o.onEvent } : {}),
      onSummary: (s) =>
        say(
          `training LoRA r=${o.rank} on all linear layers with DPO (beta ${pref.beta}; the reference is the same model with the adapter off): ${s.trainableParams.toLocaleString("en-US")} trainable parameters`,
        ),
    },
  );
  const after = scorePairs(runDir, files.test, pref);
  say(
    `held-out preference accuracy after DPO: ${pct(after.preferenceAccuracy)} (before: ${pct(before)}); ` +
      `reward accuracy ${pct(after.rewardAccuracy)}, mean reward margin ${after.rewardMargin.toFixed(2)}`,
  );
  say(
    `\ndemo folder: ${o.out} (train.jsonl, test.jsonl); the run: ${runDir} (adapter, config.yaml, metrics.jsonl, report.html)`,
  );
  return { before, after: after.preferenceAccuracy, rewardAccuracy: after.rewardAccuracy, outDir: runDir };
}
