/**
 * One training run of the browser page, without the page (the tests drive it the same way): the demo task's rows
 * drawn for the seed (src/demo/task.ts), encoded and batched as `loratune train` encodes and batches a JSONL file
 * of them (data/train-example.ts, SftObjective with shuffling, no packing, one micro-batch a step), LoRA attached
 * as train attaches it (attachAdapter with Rng(seed)), then trained on WebGPU by the GPU-resident trainer
 * (src/webgpu/trainer.ts) with train's schedule (lrAt). So a CPU run of `loratune train` with the same settings
 * (settings.ts's trainFlags) sees the same batches, the same initial adapter and the same learning rates.
 *
 * Held-out scoring: the mean token loss over the held-out rows on the GPU (evalLoss), and per sentence its loss and
 * the demo's exact match of the greedy completion, decoded on the CPU by the reference kernels after the adapter is
 * copied back (train/task-metric.ts's scoreCompletions, as `loratune demo` scores). The adapter comes out as the
 * two files `train` writes (lora/peft-format.ts, io/safetensors-bytes.ts).
 */
/// <reference types="@webgpu/types" />
import { type Batch, makeBatches } from "../data/batch.ts";
import type { EncodeInfo, Example } from "../data/encode.ts";
import { trainExample } from "../data/train-example.ts";
import { demoTaskItems, exactMatch, generateTask, type PromptRow, taskJsonl } from "../demo/task.ts";
import { LoratuneError } from "../errors.ts";
import { safetensorsBytes } from "../io/safetensors-bytes.ts";
import { refKernels } from "../kernels/ref/index.ts";
import { attachAdapter } from "../lora/adapter.ts";
import { defaultLoraConfig, type LoraConfig, parseTargets } from "../lora/config.ts";
import { ADAPTER_WEIGHTS, adapterFileContents } from "../lora/peft-format.ts";
import { Rng } from "../tensor/rng.ts";
import { ADAMW_DEFAULTS } from "../train/adamw.ts";
import { SftObjective } from "../train/objective.ts";
import { lrAt } from "../train/schedule.ts";
import { scoreCompletions } from "../train/task-metric.ts";
import { createGpuLoraTrainer } from "../webgpu/trainer.ts";
import type { GpuLoraTrainer, GpuMemoryEstimate } from "../webgpu/trainer-api.ts";
import type { WebModel } from "./demo-model.ts";
import type { WebSettings } from "./settings.ts";

/** One optimizer step's figures. */
export interface WebStep {
  step: number;
  totalSteps: number;
  loss: number;
  lr: number;
  gradNorm: number;
  /** Seconds of this step, from its submission to its loss read back. */
  seconds: number;
  /** Tokens (rows × padded length) of the step's batch. */
  tokens: number;
}

/** One held-out sentence scored. */
export interface HeldOutRow {
  sentence: string;
  expected: string;
  prediction: string;
  correct: boolean;
  /** Mean token loss of its completion under the current adapter. */
  loss: number;
}

/** The adapter as `train` writes it: adapter_model.safetensors' bytes and adapter_config.json's text. */
export interface AdapterDownload {
  weights: Uint8Array;
  config: string;
}

const SRC_TRAIN = "demo task (train rows)";
const SRC_TEST = "demo task (held-out rows)";

/** Encodes rows as train reads a prompt/completion JSONL file of them: kept examples only (null: dropped). */
function encodeRows(web: WebModel, rows: readonly PromptRow[], s: WebSettings, file: string): (Example | null)[] {
  const opts = {
    seqLen: s.seqLen,
    trainOnPrompt: false,
    trainOnAllMessages: false,
    vocabSize: web.model.config.vocabSize,
  };
  const info: EncodeInfo = { eosInserted: 0 };
  return rows.map((r, i) => {
    const src = { file, line: i + 1 };
    const t = trainExample({ shape: "prompt_completion", ...r }, web.tokenizer, opts, src, info);
    return t.labelTokens > 0 ? t.example : null;
  });
}

export class WebSession {
  /** Optimizer steps done. */
  step = 0;
  readonly totalSteps: number;
  readonly test: readonly PromptRow[];
  /** The training rows as `loratune demo` writes train.jsonl (for the same run on the CPU). */
  readonly trainJsonl: string;
  private readonly testExamples: (Example | null)[];
  private readonly trainer: GpuLoraTrainer;
  private readonly objective: SftObjective;
  private readonly lora: LoraConfig;
  private epoch = 0;
  private index = 0;

  private constructor(
    private readonly web: WebModel,
    private readonly s: WebSettings,
    private readonly baseModelName: string,
    parts: {
      trainer: GpuLoraTrainer;
      objective: SftObjective;
      lora: LoraConfig;
      train: PromptRow[];
      test: PromptRow[];
    },
  ) {
    this.totalSteps = s.steps;
    this.trainer = parts.trainer;
    this.objective = parts.objective;
    this.lora = parts.lora;
    this.test = parts.test;
    this.trainJsonl = taskJsonl(parts.train);
    this.testExamples = encodeRows(web, parts.test, s, SRC_TEST);
  }

  /**
   * Draws the task, attaches a fresh LoRA adapter to `web.model` and uploads everything to `device` (the GPU
   * trainer's preflight refuses, naming the limit, what does not fit). `baseModelName` goes into
   * adapter_config.json's base_model_name_or_path.
   */
  static async create(device: GPUDevice, web: WebModel, s: WebSettings, baseModelName: string): Promise<WebSession> {
    const task = generateTask({ seed: s.seed, trainSize: s.trainSize, testSize: s.testSize });
    const examples = encodeRows(web, task.train, s, SRC_TRAIN).filter((e): e is Example => e !== null);
    const padId = web.tokenizer.pad?.id ?? 0;
    const objective = new SftObjective(examples, null, { ...s, pack: false, shuffle: true }, padId);
    const model = web.model;
    const lora = defaultLoraConfig(
      { r: s.rank, loraAlpha: s.alpha, loraDropout: 0, targetModules: parseTargets(s.targets) },
      model.family,
    );
    const rng = new Rng(s.seed);
    attachAdapter(model, lora, () => rng.next(), false);
    const trainer = await createGpuLoraTrainer(device, {
      model,
      maxRows: s.batchSize,
      maxSeqLen: s.seqLen,
      optimizer: ADAMW_DEFAULTS,
      maxGradNorm: s.maxGradNorm,
    });
    return new WebSession(web, s, baseModelName, { trainer, objective, lora, train: task.train, test: task.test });
  }

  /** The GPU memory the preflight planned. */
  get memory(): GpuMemoryEstimate {
    return this.trainer.memory;
  }

  /** Trainable parameters (A and B of every adapted linear). */
  get trainableParams(): number {
    return this.trainer.params.reduce((n, p) => n + p.shape[0]! * p.shape[1]!, 0);
  }

  /** The next micro-batch, epoch after epoch (the CPU trainer's order with one micro-batch a step). */
  private nextBatch(): Batch {
    const batches = this.objective.epochBatches(this.epoch);
    const b = batches[this.index]!;
    this.index += 1;
    if (this.index >= batches.length) {
      this.epoch += 1;
      this.index = 0;
    }
    return b;
  }

  /** One optimizer step at the schedule's rate. */
  async trainStep(): Promise<WebStep> {
    if (this.step >= this.totalSteps) throw new LoratuneError("ERR_USAGE", `all ${this.totalSteps} steps are done`);
    const s = this.s;
    const lr = lrAt(this.step, s.lr, s.lrSchedule, s.warmupSteps, this.totalSteps);
    const batch = this.nextBatch();
    const started = performance.now();
    const r = await this.trainer.step(batch, lr);
    this.step += 1;
    const seconds = (performance.now() - started) / 1000;
    return {
      step: this.step,
      totalSteps: this.totalSteps,
      loss: r.loss,
      lr,
      gradNorm: r.gradNorm,
      seconds,
      tokens: r.tokens,
    };
  }

  /** Mean token loss over the held-out rows (GPU, no gradients). */
  async heldOutLoss(): Promise<number> {
    const kept = this.testExamples.filter((e): e is Example => e !== null);
    const padId = this.web.tokenizer.pad?.id ?? 0;
    const batches = makeBatches(kept, { batchSize: this.s.batchSize, seqLen: this.s.seqLen, padId });
    return (await this.trainer.evalLoss(batches)).loss;
  }

  /**
   * Scores every held-out sentence with the current adapter: its loss (GPU) and its greedy completion (CPU,
   * reference kernels) against the expected card. `onRow` sees each row as it is scored.
   */
  async scoreHeldOut(onRow?: (row: HeldOutRow, i: number) => void): Promise<HeldOutRow[]> {
    await this.trainer.copyAdapterToModel();
    const tok = this.web.tokenizer;
    const items = demoTaskItems(tok, this.test);
    const padId = tok.pad?.id ?? 0;
    const out: HeldOutRow[] = [];
    for (const [i, row] of this.test.entries()) {
      const ex = this.testExamples[i];
      const loss = ex
        ? (await this.trainer.evalLoss(makeBatches([ex], { batchSize: 1, seqLen: this.s.seqLen, padId }))).loss
        : Number.NaN;
      const prediction = scoreCompletions(refKernels, this.web.model, [items[i]!], tok).predictions[0]!;
      const scored = {
        sentence: row.prompt.split("\n")[0]!.replace(/^Sentence: /, ""),
        expected: row.completion,
        prediction,
        correct: exactMatch(prediction, row.completion),
        loss,
      };
      out.push(scored);
      onRow?.(scored, i);
      await new Promise((r) => setTimeout(r, 0)); // let the page draw the row
    }
    return out;
  }

  /** The adapter's two PEFT files, exactly as `train` writes them, with the trained values. */
  async adapterFiles(): Promise<AdapterDownload> {
    await this.trainer.copyAdapterToModel();
    const files = adapterFileContents(this.web.model, this.lora, this.baseModelName, "the adapter download");
    return { weights: safetensorsBytes(ADAPTER_WEIGHTS, files.weights, files.metadata), config: files.configText };
  }

  /** Frees the GPU buffers (the device stays the caller's). */
  destroy(): void {
    this.trainer.destroy();
  }
}
