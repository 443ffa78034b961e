/**
 * runTraining with a TrainEngine (how LORATUNE_BACKEND=webgpu runs its steps on the GPU trainer): the loop keeps
 * data order, schedule, evaluation and checkpoints, and takes the parameters and AdamW's state back from the engine
 * whenever it writes them. Checked with an engine that computes on a model of its own (so the loop's parameters
 * change only through syncTo): the same losses, evaluations, final adapter and checkpointed optimizer state as the
 * plain run, bit for bit; resuming with an engine is refused.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import type { Batch } from "../../src/data/batch.ts";
import type { Example } from "../../src/data/encode.ts";
import { isLoratuneError } from "../../src/errors.ts";
import { refKernels as k } from "../../src/kernels/ref/index.ts";
import { attachLora, loraParams } from "../../src/lora/adapter.ts";
import { defaultLoraConfig } from "../../src/lora/config.ts";
import { allocateActivations } from "../../src/model/activations.ts";
import { lossAndGrad } from "../../src/model/loss.ts";
import { Rng } from "../../src/tensor/rng.ts";
import { AdamW } from "../../src/train/adamw.ts";
import { checkpointName, loadCheckpoint } from "../../src/train/checkpoint.ts";
import { gradNorm, scaleGrads, zeroGrads } from "../../src/train/grads.ts";
import { evaluateBatches } from "../../src/train/objective.ts";
import { runTraining, type TrainEngine, type TrainEvent, type TrainSettings } from "../../src/train/trainer.ts";
import { randomModel } from "../helpers/random-model.ts";
import { testTrainSettings } from "../helpers/train-settings.ts";

function examples(n: number, vocab: number, seed: number): Example[] {
  const rng = new Rng(seed);
  return Array.from({ length: n }, () => {
    const ids = Array.from({ length: 5 + rng.nextInt(6) }, () => rng.nextInt(vocab));
    return { ids, labels: ids };
  });
}

const settings: TrainSettings = testTrainSettings({
  steps: 6,
  seqLen: 16,
  lr: 1e-2,
  gradAccum: 2,
  batchSize: 2,
  maxGradNorm: 0.5,
  evalEvery: 2,
  saveEvery: 3,
  keepCheckpoints: 5,
});

function setup() {
  const model = randomModel({}, 41);
  const rng = new Rng(5);
  attachLora(model, defaultLoraConfig({ r: 4, targetModules: "all-linear", initLoraWeights: false }), () => rng.next());
  return { model, params: loraParams(model) };
}

/** An engine computing the CPU step on a model of its own (what the GPU trainer does on the GPU). */
function cpuEngine(): TrainEngine & { syncs: number } {
  const { model, params } = setup();
  const s = settings;
  const opt = new AdamW(params, { beta1: s.beta1, beta2: s.beta2, eps: s.adamEps, weightDecay: s.weightDecay });
  const acts = allocateActivations(model, s.batchSize, s.seqLen, { checkpoint: false });
  const engine = {
    syncs: 0,
    async step(micro: Batch[], lr: number) {
      zeroGrads(k, params);
      const labels = micro.reduce((n, b) => n + b.nLabelTokens, 0);
      let sum = 0;
      for (const b of micro) sum += lossAndGrad(k, model, acts, b, 1 / labels, null);
      const norm = gradNorm(k, params);
      if (norm > s.maxGradNorm) scaleGrads(k, params, s.maxGradNorm / (norm + 1e-6));
      opt.update(k, lr);
      return { loss: sum / labels, gradNorm: norm };
    },
    evaluate: async (batches: Batch[]) => evaluateBatches(k, model, acts, batches),
    async syncTo(into: AdamW) {
      engine.syncs += 1;
      into.params.forEach((p, i) => {
        p.data.set(params[i]!.data);
        into.m[i]!.set(opt.m[i]!);
        into.v[i]!.set(opt.v[i]!);
      });
      into.step = opt.step;
    },
  };
  return engine;
}

async function run(engine?: TrainEngine, resumeFrom?: string) {
  const { model, params } = setup();
  const events: TrainEvent[] = [];
  const outDir = mkdtempSync(join(tmpdir(), "lt-engine-"));
  await runTraining({
    kernels: k,
    model,
    params,
    train: examples(20, model.config.vocabSize, 3),
    val: examples(4, model.config.vocabSize, 4),
    settings,
    outDir,
    fingerprint: "engine",
    onEvent: (e) => events.push(e),
    ...(engine ? { engine } : {}),
    ...(resumeFrom ? { resumeFrom } : {}),
  });
  return { events, params, outDir };
}

test("runTraining with an engine = the plain run: losses, evaluations, adapter and checkpoints (syncTo)", async () => {
  const plain = await run();
  const engine = cpuEngine();
  const viaEngine = await run(engine);
  try {
    const figures = (events: TrainEvent[]) =>
      events.flatMap((e) => (e.type === "step" ? [e.loss, e.gradNorm, e.lr] : e.type === "eval" ? [e.valLoss] : []));
    assert.deepEqual(figures(viaEngine.events), figures(plain.events));
    viaEngine.params.forEach((p, i) => {
      assert.deepEqual(p.data, plain.params[i]!.data, p.name);
    });
    // Checkpoints at steps 3 and 6 hold the engine's parameters and AdamW state, as the plain run's do.
    for (const step of [3, 6]) {
      const read = (outDir: string) => {
        const { params } = setup();
        const opt = new AdamW(params);
        const state = loadCheckpoint(join(outDir, "checkpoints", checkpointName(step)), params, opt);
        return { state: state.step, step: opt.step, m: opt.m, v: opt.v, data: params.map((p) => p.data) };
      };
      assert.deepEqual(read(viaEngine.outDir), read(plain.outDir), `checkpoint ${step}`);
    }
    assert.ok(engine.syncs >= 3, `syncTo at each checkpoint and at the end (${engine.syncs})`);
    await assert.rejects(
      run(cpuEngine(), join(plain.outDir, "checkpoints", checkpointName(3))),
      (e: unknown) => isLoratuneError(e) && e.code === "ERR_USAGE" && /no resume/.test(e.message),
    );
  } finally {
    rmSync(plain.outDir, { recursive: true, force: true });
    rmSync(viaEngine.outDir, { recursive: true, force: true });
  }
});
