/**
 * Preference tuning: the pair losses' derivatives against finite differences, the whole step's LoRA gradients
 * against finite differences of the evaluated loss (every method), the log-prob masking (prompt and padding never
 * count), the adapter-off reference, and the encoding of text and chat pairs.
 */
import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { type PreferencePair, readPreferenceDataset } from "../../src/data/preference.ts";
import { makePreferenceBatches, rowLogps } from "../../src/data/preference-batch.ts";
import { refKernels as k } from "../../src/kernels/ref/index.ts";
import { attachLora, loraParams } from "../../src/lora/adapter.ts";
import { defaultLoraConfig } from "../../src/lora/config.ts";
import { allocateActivations } from "../../src/model/activations.ts";
import { enableFullTraining } from "../../src/model/full-params.ts";
import { DEMO_MODEL_DIR } from "../../src/model/load.ts";
import { evalLossSum } from "../../src/model/loss.ts";
import { Rng } from "../../src/tensor/rng.ts";
import { zeroGrads } from "../../src/tensor/trainable.ts";
import { loadTokenizer } from "../../src/tokenizer/load-tokenizer.ts";
import { type PairLogps, type PreferenceSettings, pairTerms } from "../../src/train/preference-loss.ts";
import {
  checkTrainable,
  preferenceEvaluate,
  preferenceStep,
  referenceLogps,
  withAdapterOff,
} from "../../src/train/preference-objective.ts";
import { randomModel } from "../helpers/random-model.ts";

const SETTINGS: PreferenceSettings[] = [
  { method: "dpo", beta: 0.1, labelSmoothing: 0, orpoLambda: 0.1 },
  { method: "dpo", beta: 0.7, labelSmoothing: 0.3, orpoLambda: 0.1 },
  { method: "ipo", beta: 0.4, labelSmoothing: 0, orpoLambda: 0.1 },
  { method: "orpo", beta: 0.1, labelSmoothing: 0, orpoLambda: 0.8 },
];
const label = (s: PreferenceSettings) => `${s.method} β=${s.beta} ε=${s.labelSmoothing} λ=${s.orpoLambda}`;

test("DPO at equal policy and reference: loss log 2, zero rewards; IPO and ORPO known values", () => {
  const p: PairLogps = { chosen: -5, rejected: -7, chosenTokens: 5, rejectedTokens: 7, refChosen: -5, refRejected: -7 };
  const dpo = pairTerms(SETTINGS[0]!, p);
  assert.ok(Math.abs(dpo.loss - Math.LN2) < 1e-12);
  assert.equal(dpo.chosenReward, 0);
  assert.ok(Math.abs(dpo.dChosen + 0.05) < 1e-12, "β·(−σ(0)) = −0.05");
  const ipo = pairTerms(SETTINGS[2]!, p); // h = 0: (0 − 1/(2·0.4))² = 1.5625
  assert.ok(Math.abs(ipo.loss - 1.5625) < 1e-12);
  // ORPO: equal average log-probs (−1 and −1): log odds ratio 0, loss λ·log 2.
  const orpo = pairTerms(SETTINGS[3]!, p);
  assert.ok(Math.abs(orpo.loss - 0.8 * Math.LN2) < 1e-12);
  assert.ok(Math.abs(orpo.chosenReward - 0.8 * -1) < 1e-12);
});

for (const s of SETTINGS) {
  test(`pair loss derivatives match finite differences (${label(s)})`, () => {
    const p: PairLogps = {
      chosen: -6.3,
      rejected: -4.1,
      chosenTokens: 4,
      rejectedTokens: 3,
      refChosen: -5.9,
      refRejected: -4.7,
    };
    const t = pairTerms(s, p);
    const h = 1e-6;
    for (const key of ["chosen", "rejected"] as const) {
      const up = pairTerms(s, { ...p, [key]: p[key] + h }).loss;
      const down = pairTerms(s, { ...p, [key]: p[key] - h }).loss;
      const want = (up - down) / (2 * h);
      const got = key === "chosen" ? t.dChosen : t.dRejected;
      assert.ok(Math.abs(got - want) < 1e-7 * Math.max(1, Math.abs(want)), `${key}: ${got} vs ${want}`);
    }
  });
}

/** Random pairs over the tiny model's vocabulary: shared prompt, different completions (lengths vary). */
function randomPairs(n: number, vocab: number, seed: number): PreferencePair[] {
  const rng = new Rng(seed);
  const ids = (len: number) => Array.from({ length: len }, () => 1 + rng.nextInt(vocab - 1));
  const side = (prompt: number[], completion: number[]) => ({
    ids: [...prompt, ...completion],
    labels: [...prompt.map(() => -100), ...completion],
  });
  return Array.from({ length: n }, () => {
    const prompt = ids(2 + rng.nextInt(3));
    return { chosen: side(prompt, ids(1 + rng.nextInt(4))), rejected: side(prompt, ids(1 + rng.nextInt(4))) };
  });
}

function adaptedModel(seed: number) {
  const model = randomModel({}, seed);
  const rng = new Rng(seed + 10);
  attachLora(
    model,
    defaultLoraConfig({ r: 3, loraAlpha: 6, targetModules: "all-linear", initLoraWeights: false }),
    () => rng.next(),
  );
  for (const p of loraParams(model)) for (let i = 0; i < p.data.length; i++) p.data[i]! *= 0.5;
  return model;
}

for (const s of SETTINGS) {
  test(`preference step gradients match finite differences of the loss (${label(s)}, 2 micro-batches)`, () => {
    const model = adaptedModel(3);
    const micro = makePreferenceBatches(randomPairs(5, model.config.vocabSize, 9), { batchSize: 3, seqLen: 16 });
    assert.equal(micro.length, 2);
    const acts = allocateActivations(model, 6, 16, { withGrad: true });
    const params = loraParams(model);
    zeroGrads(params);
    const { loss } = preferenceStep(k, model, acts, micro, s, null);
    const lossAt = () => preferenceEvaluate(k, model, acts, micro, s).loss;
    assert.ok(Math.abs(lossAt() - loss) < 1e-6 * Math.max(1, loss), "step and evaluate give the same loss");
    const rng = new Rng(5);
    for (let trial = 0; trial < 2; trial++) {
      const dirs = params.map((p) => Float32Array.from(p.grad, (g) => (trial === 0 ? g : rng.next() - 0.5)));
      const norm = Math.sqrt(dirs.reduce((n, d) => n + d.reduce((m, x) => m + x * x, 0), 0));
      let analytic = 0;
      params.forEach((p, i) => {
        for (let j = 0; j < p.grad.length; j++) analytic += (p.grad[j]! * dirs[i]![j]!) / norm;
      });
      const eps = 3e-3;
      const shift = (sign: number) =>
        params.forEach((p, i) => {
          for (let j = 0; j < p.data.length; j++) p.data[j]! += (sign * eps * dirs[i]![j]!) / norm;
        });
      shift(1);
      const lp = lossAt();
      shift(-2);
      const lm = lossAt();
      shift(1);
      const numeric = (lp - lm) / (2 * eps);
      const tol = 2e-3 * Math.max(1, Math.abs(analytic)) + 2e-4;
      assert.ok(Math.abs(numeric - analytic) <= tol, `trial ${trial}: analytic ${analytic} vs numeric ${numeric}`);
    }
  });
}

test("sequence log-probs count completion tokens only: prompts and padding never count", () => {
  const model = adaptedModel(4);
  const V = model.config.vocabSize;
  const pairs = randomPairs(3, V, 2);
  const [batch] = makePreferenceBatches(pairs, { batchSize: 3, seqLen: 16 });
  const { B, T } = batch!;
  const logits = new Float32Array(B * T * V);
  const acts = allocateActivations(model, B, T, { withGrad: false });
  evalLossSum(k, model, acts, batch!, logits);
  const { logp, tokens } = rowLogps(batch!, acts.losses);
  const rows = [...pairs.map((p) => p.chosen), ...pairs.map((p) => p.rejected)];
  rows.forEach((ex, b) => {
    // By hand: log softmax at position t of the label at t + 1, for completion labels only.
    let want = 0;
    let n = 0;
    for (let t = 0; t + 1 < ex.ids.length; t++) {
      const y = ex.labels[t + 1]!;
      if (y === -100) continue;
      const row = logits.subarray((b * T + t) * V, (b * T + t + 1) * V);
      const max = Math.max(...row);
      const lse = max + Math.log(row.reduce((s, x) => s + Math.exp(x - max), 0));
      want += row[y]! - lse;
      n++;
    }
    assert.equal(tokens[b], n, `row ${b}: completion tokens`);
    assert.equal(n, ex.labels.filter((y) => y !== -100).length, "every completion token is a target");
    assert.ok(Math.abs(logp[b]! - want) < 1e-4, `row ${b}: ${logp[b]} vs ${want}`);
  });
  // Changing a prompt token's label (it stays masked) or the padding leaves the log-probs unchanged.
  const padded = makePreferenceBatches(pairs, { batchSize: 3, seqLen: 16, padId: 7 })[0]!;
  evalLossSum(k, model, acts, padded);
  const again = rowLogps(padded, acts.losses).logp;
  for (let b = 0; b < B; b++) assert.ok(Math.abs(again[b]! - logp[b]!) < 1e-5, `row ${b} with other padding`);
});

test("the reference is the model with its adapter switched off, and the adapter is back afterwards", () => {
  const model = adaptedModel(6);
  const [batch] = makePreferenceBatches(randomPairs(2, model.config.vocabSize, 4), { batchSize: 2, seqLen: 16 });
  const acts = allocateActivations(model, batch!.B, batch!.T, { withGrad: true });
  const ref = referenceLogps(k, model, acts, batch!);
  const adapters = model.linears.map((l) => l.adapter);
  assert.ok(adapters.every((a) => a !== null));
  const base = randomModel({}, 6); // the same base weights, no adapter
  evalLossSum(k, model, acts, batch!);
  const withAdapter = rowLogps(batch!, acts.losses).logp;
  const baseActs = allocateActivations(base, batch!.B, batch!.T, { withGrad: false });
  evalLossSum(k, base, baseActs, batch!);
  const plain = rowLogps(batch!, baseActs.losses).logp;
  for (let b = 0; b < batch!.B; b++) {
    assert.ok(Math.abs(ref[b]! - plain[b]!) < 1e-6, `row ${b}: reference = base model`);
    assert.ok(Math.abs(withAdapter[b]! - plain[b]!) > 1e-4, `row ${b}: the adapter changes the policy`);
  }
  assert.throws(() =>
    withAdapterOff(model, () => {
      throw new Error("boom");
    }),
  );
  assert.deepEqual(
    model.linears.map((l) => l.adapter),
    adapters,
  );
});

test("preference tuning refuses a trainable head or embeddings (full fine-tuning)", () => {
  const model = randomModel({}, 7);
  enableFullTraining(model);
  assert.throws(() => checkTrainable(model), /full fine-tuning/);
});

test("text and chat preference rows encode with labels on the completion only", () => {
  const tok = loadTokenizer(DEMO_MODEL_DIR);
  const dir = mkdtempSync(join(tmpdir(), "loratune-pref-"));
  const text = join(dir, "text.jsonl");
  const chat = join(dir, "chat.jsonl");
  const implicit = join(dir, "implicit.jsonl");
  writeFileSync(text, `${JSON.stringify({ prompt: "the cat", chosen: " sat down", rejected: " ran" })}\n`);
  const user = { role: "user", content: "where is the cat" };
  const turn = (content: string) => [{ role: "assistant", content }];
  const earlier = [user, { role: "assistant", content: "in the house" }, { role: "user", content: "and now" }];
  writeFileSync(chat, `${JSON.stringify({ prompt: earlier, chosen: turn("on the mat"), rejected: "gone" })}\n`);
  writeFileSync(
    implicit,
    `${JSON.stringify({ chosen: [...earlier, ...turn("on the mat")], rejected: [...earlier, ...turn("gone")] })}\n`,
  );
  const decodeLabels = (ex: { ids: number[]; labels: number[] }) =>
    tok.decode(ex.ids.filter((_, t) => ex.labels[t] !== -100));
  const t = readPreferenceDataset([text], tok, { seqLen: 64 });
  assert.equal(t.stats.shapes[text], "text");
  assert.equal(decodeLabels(t.pairs[0]!.chosen).trim(), `sat down${tok.decode([tok.eos!.id])}`);
  for (const file of [chat, implicit]) {
    const c = readPreferenceDataset([file], tok, { seqLen: 256 });
    assert.equal(c.stats.shapes[file], "chat");
    const chosen = decodeLabels(c.pairs[0]!.chosen);
    assert.match(chosen, /^on the mat<\|im_end\|>/, `${file}: ${chosen}`);
    assert.ok(!chosen.includes("in the house"), "an assistant turn of the prompt is not trained");
    assert.match(decodeLabels(c.pairs[0]!.rejected), /^gone<\|im_end\|>/);
  }
  const bad = join(dir, "bad.jsonl");
  writeFileSync(bad, `${JSON.stringify({ prompt: "x", chosen: "y" })}\n`);
  assert.throws(() => readPreferenceDataset([bad], tok, { seqLen: 64 }), /bad\.jsonl:1: row has no "rejected"/);
});

test("a preference step with activation checkpointing gives the same loss and gradients", () => {
  const s = SETTINGS[0]!;
  const grads = (checkpoint: boolean) => {
    const model = adaptedModel(8);
    const micro = makePreferenceBatches(randomPairs(3, model.config.vocabSize, 5), { batchSize: 3, seqLen: 16 });
    const acts = allocateActivations(model, 6, 16, { withGrad: true, checkpoint });
    const params = loraParams(model);
    zeroGrads(params);
    const { loss } = preferenceStep(k, model, acts, micro, s, null);
    return { loss, grads: params.map((p) => Array.from(p.grad)) };
  };
  const plain = grads(false);
  const ckpt = grads(true);
  assert.equal(ckpt.loss, plain.loss);
  assert.deepEqual(ckpt.grads, plain.grads);
});

test("with a DoRA adapter the reference is the plain base model too (magnitude switched off with it)", () => {
  const model = randomModel({}, 9);
  const rng = new Rng(19);
  const config = defaultLoraConfig({ method: "dora", r: 2, loraAlpha: 4, targetModules: "all-linear" });
  attachLora(model, { ...config, initLoraWeights: false }, () => rng.next());
  for (const p of loraParams(model)) for (let i = 0; i < p.data.length; i++) p.data[i]! *= 1.5; // m ≠ ‖W + sBA‖
  const [batch] = makePreferenceBatches(randomPairs(2, model.config.vocabSize, 6), { batchSize: 2, seqLen: 16 });
  const acts = allocateActivations(model, batch!.B, batch!.T, { withGrad: true });
  const ref = referenceLogps(k, model, acts, batch!);
  const base = randomModel({}, 9);
  const baseActs = allocateActivations(base, batch!.B, batch!.T, { withGrad: false });
  evalLossSum(k, base, baseActs, batch!);
  const plain = rowLogps(batch!, baseActs.losses).logp;
  evalLossSum(k, model, acts, batch!);
  const policy = rowLogps(batch!, acts.losses).logp;
  for (let b = 0; b < batch!.B; b++) {
    assert.ok(Math.abs(ref[b]! - plain[b]!) < 1e-6, `row ${b}: reference = base model`);
    assert.ok(Math.abs(policy[b]! - plain[b]!) > 1e-4, `row ${b}: the DoRA adapter changes the policy`);
  }
});
