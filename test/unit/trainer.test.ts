/**
 * The trainer: gradient accumulation is exact (batch 4 × accum 1 = batch 2 × accum 2), resume continues
 * bit-exactly (dropout RNG, shuffled data position, AdamW moments), early stopping, non-finite loss errors.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import type { Example } from "../../src/data/encode.ts";
import { refKernels as k } from "../../src/kernels/ref/index.ts";
import { attachLora, loraParams } from "../../src/lora/adapter.ts";
import { defaultLoraConfig } from "../../src/lora/config.ts";
import { Rng } from "../../src/tensor/rng.ts";
import { resolveCheckpoint } from "../../src/train/checkpoint.ts";
import { runTraining, type TrainEvent, type TrainSettings } from "../../src/train/trainer.ts";
import { randomModel } from "../helpers/random-model.ts";
import { testTrainSettings } from "../helpers/train-settings.ts";

function examples(n: number, vocab: number, seed: number): Example[] {
  const rng = new Rng(seed);
  return Array.from({ length: n }, (_, i) => {
    const len = 5 + rng.nextInt(6);
    const ids = Array.from({ length: len }, () => rng.nextInt(vocab));
    const labels = ids.map((id, t) => (i % 3 === 0 && t < 2 ? -100 : id));
    return { ids, labels };
  });
}

const base: TrainSettings = testTrainSettings({ seqLen: 16, lr: 5e-3, keepCheckpoints: 2 });

function setup(dropout = 0) {
  const model = randomModel({}, 41);
  const rng = new Rng(5);
  attachLora(model, defaultLoraConfig({ r: 4, loraDropout: dropout, targetModules: "all-linear" }), () => rng.next());
  return { model, params: loraParams(model) };
}

async function train(
  settings: TrainSettings,
  opts: { dropout?: number; outDir?: string; resumeFrom?: string; signalAfter?: number } = {},
) {
  const { model, params } = setup(opts.dropout);
  const events: TrainEvent[] = [];
  const controller = new AbortController();
  const result = await runTraining({
    kernels: k,
    model,
    params,
    train: examples(24, model.config.vocabSize, 3),
    val: examples(6, model.config.vocabSize, 4),
    settings,
    outDir: opts.outDir ?? mkdtempSync(join(tmpdir(), "lt-train-")),
    fingerprint: "test",
    signal: controller.signal,
    ...(opts.resumeFrom ? { resumeFrom: opts.resumeFrom } : {}),
    onEvent: (e) => {
      events.push(e);
      if (e.type === "step" && e.step === opts.signalAfter) controller.abort();
    },
  });
  return { result, events, params };
}

const losses = (events: TrainEvent[]) => events.flatMap((e) => (e.type === "step" ? [e.loss] : []));

test("batch 4 × accum 1 equals batch 2 × accum 2 in loss and update", async () => {
  const a = await train({ ...base, batchSize: 4, gradAccum: 1 });
  const b = await train({ ...base, batchSize: 2, gradAccum: 2 });
  const la = losses(a.events);
  const lb = losses(b.events);
  la.forEach((l, i) => {
    assert.ok(Math.abs(l - lb[i]!) <= 1e-5 * l, `step ${i + 1}: ${l} vs ${lb[i]}`);
  });
  a.params.forEach((p, i) => {
    const q = b.params[i]!;
    for (let j = 0; j < p.data.length; j++) assert.ok(Math.abs(p.data[j]! - q.data[j]!) < 1e-5, `${p.name}[${j}]`);
  });
});

test("resume from a checkpoint continues bit-exactly (dropout, shuffle, accumulation)", async () => {
  const settings = {
    ...base,
    steps: 6,
    shuffle: true,
    gradAccum: 2,
    batchSize: 3,
    saveEvery: 2,
    lrSchedule: "cosine" as const,
    warmupSteps: 2,
  };
  const full = await train(settings, { dropout: 0.1 });
  const out = mkdtempSync(join(tmpdir(), "lt-resume-"));
  const first = await train(settings, { dropout: 0.1, outDir: out, signalAfter: 3 });
  assert.equal(first.result.reason, "interrupted");
  assert.equal(first.result.steps, 3, "the interrupted run finishes the step in progress, then checkpoints");
  const resumed = await train(settings, { dropout: 0.1, outDir: out, resumeFrom: resolveCheckpoint(out) });
  assert.equal(resumed.result.steps, 6);
  assert.deepEqual(losses(resumed.events), losses(full.events).slice(3));
  full.params.forEach((p, i) => {
    assert.deepEqual(resumed.params[i]!.data, p.data, p.name);
  });
  rmSync(out, { recursive: true, force: true });
});

test("early stopping ends the run when the validation loss stops improving", async () => {
  const r = await train({ ...base, steps: 50, lr: 0.5, evalEvery: 1, earlyStopping: 2 });
  assert.equal(r.result.reason, "early_stopping");
  assert.ok(r.result.steps < 50);
  assert.ok(r.events.some((e) => e.type === "eval"));
});

test("a non-finite loss stops with the step and advice", async () => {
  const { model, params } = setup();
  params[0]!.data[0] = Number.NaN;
  await assert.rejects(
    () =>
      runTraining({
        kernels: k,
        model,
        params,
        train: examples(8, 37, 1),
        val: null,
        settings: base,
        outDir: mkdtempSync(join(tmpdir(), "lt-nan-")),
        fingerprint: "x",
      }),
    (e: Error & { code?: string }) =>
      e.code === "ERR_NONFINITE" && /step 1/.test(e.message) && /--max-grad-norm/.test(e.message),
  );
});
