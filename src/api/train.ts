/**
 * `train()`: the whole fine-tuning job behind `loratune train` — load the model and tokenizer, read and check
 * the data, attach LoRA (or enable full training), print a summary, run the trainer, and write the run
 * directory: the PEFT adapter (or full model), metrics.jsonl, config.yaml, chat_template.jinja, report.html.
 */
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, rmSync } from "node:fs";
import { join, resolve } from "node:path";
import { stringify as toYaml } from "yaml";
import { type Dataset, readDataset } from "../data/dataset.ts";
import type { Example } from "../data/encode.ts";
import { Rng } from "../data/rng.ts";
import { LoratuneError } from "../errors.ts";
import { writeFileAtomic } from "../io/atomic.ts";
import { writeModelFiles } from "../io/hf-dir.ts";
import { isNonEmptyDir } from "../io/output-dir.ts";
import { loadAdapter, saveAdapter } from "../io/peft.ts";
import { getKernels } from "../kernels/index.ts";
import { attachLora, loraParams, type TrainableParam } from "../lora/adapter.ts";
import { defaultLoraConfig, type LoraConfig, parseTargets } from "../lora/config.ts";
import { readModelConfig } from "../model/config.ts";
import { enableFullTraining } from "../model/full-params.ts";
import { countBaseParameters, type LlamaModel } from "../model/llama.ts";
import { loadModel, resolveModelDir } from "../model/load.ts";
import { readMetrics, writeReport } from "../report/html.ts";
import { loadTokenizer, type Tokenizer } from "../tokenizer/tokenizer.ts";
import { resolveCheckpoint } from "../train/checkpoint.ts";
import { estimateTrainingPeakBytes } from "../train/memory.ts";
import { MetricsLog } from "../train/metrics.ts";
import { checkChatTemplate, checkSeqLen, firstRowShapes, preflight, reportPreflight } from "../train/preflight.ts";
import { runTraining, type TrainEvent, type TrainResult, type TrainSettings } from "../train/trainer.ts";

/** Every option of a training run (the CLI's flags, camelCased). */
export interface TrainOptions extends TrainSettings {
  model: string;
  data: string;
  out: string;
  val?: string;
  valSplit: number;
  overwrite: boolean;
  full: boolean;
  dtype: "f32" | "bf16";
  rank: number;
  alpha: number;
  dropout: number;
  targets: string;
  rslora: boolean;
  layers?: string;
  initAdapter?: string;
  resume?: string;
  trainOnPrompt: boolean;
  chatTemplate?: string;
}

export interface TrainSummary {
  model: string;
  mode: "lora" | "full";
  trainExamples: number;
  valExamples: number;
  trainTokens: number;
  labelTokens: number;
  truncated: number;
  trainableParams: number;
  totalParams: number;
  estimatedPeakBytes: number;
}

export interface TrainHooks {
  onSummary?: (s: TrainSummary) => void;
  onEvent?: (e: TrainEvent) => void;
  onMessage?: (text: string) => void;
  signal?: AbortSignal;
}

export async function train(
  o: TrainOptions,
  hooks: TrainHooks = {},
): Promise<TrainResult & { outDir: string; summary: TrainSummary }> {
  const k = getKernels();
  const modelDir = resolveModelDir(o.model);
  prepareOutDir(o);
  const warn = hooks.onMessage ?? ((m: string) => console.error(m));
  const config = readModelConfig(modelDir);
  reportPreflight(checkSeqLen(o.seqLen, config), warn);
  const model = loadModel(modelDir, { dtype: o.dtype, ropePositions: o.seqLen });
  const tok = existsSync(join(modelDir, "tokenizer.json"))
    ? loadTokenizer(modelDir, o.chatTemplate ? { chatTemplateFile: o.chatTemplate } : {})
    : null;
  reportPreflight(checkChatTemplate(firstRowShapes(dataFiles(o)), tok, o.data), warn);
  const { train: trainSet, val: valSet } = readData(o, tok, config.vocabSize);
  checkVocabulary(trainSet, model, o.data);
  const fresh = o.full || o.initAdapter ? null : loraSettings(o);
  const examples = trainSet.examples;
  reportPreflight(
    preflight({
      model: config,
      lora: fresh,
      tokenizer: tok,
      seqLen: o.seqLen,
      examples,
      stats: trainSet.stats,
      dataName: o.data,
    }),
    warn,
  );
  const { params, lora: adapterConfig } = setupTrainable(o, model, fresh);
  const summary = summarize(o, model, params, trainSet, valSet);
  hooks.onSummary?.(summary);

  const metrics = new MetricsLog(join(o.out, "metrics.jsonl"));
  const resumeFrom = o.resume ? resolveCheckpoint(o.resume) : undefined;
  metrics.truncateAfter(resumeFrom ? Number(/step-(\d+)/.exec(resumeFrom)?.[1] ?? 0) : -1);
  writeFileAtomic(join(o.out, "config.yaml"), toYaml(runConfig(o, adapterConfig)));
  if (tok?.chatTemplate) writeFileAtomic(join(o.out, "chat_template.jinja"), tok.chatTemplate);

  const result = await runTraining({
    kernels: k,
    model,
    params,
    train: trainSet.examples,
    val: valSet?.examples ?? null,
    settings: o,
    outDir: o.out,
    ...(resumeFrom ? { resumeFrom } : {}),
    padId: tok?.pad?.id ?? 0,
    fingerprint: fingerprint(o, trainSet.examples),
    ...(hooks.signal ? { signal: hooks.signal } : {}),
    onEvent: (e) => {
      metrics.record(e);
      hooks.onEvent?.(e);
    },
  });
  if (adapterConfig) saveAdapter(o.out, model, adapterConfig, resolve(modelDir));
  else writeModelFiles(o.out, model, modelDir, model.sourceDtype);
  writeReport(join(o.out, "report.html"), {
    title: `loratune run: ${o.out}`,
    metrics: readMetrics(join(o.out, "metrics.jsonl")),
    settings: runConfig(o, adapterConfig),
    summary: {
      mode: summary.mode,
      "trainable parameters": summary.trainableParams,
      "trainable share": `${((100 * summary.trainableParams) / summary.totalParams).toFixed(3)}%`,
      "training examples": summary.trainExamples,
      steps: result.steps,
      "stopped by": result.reason,
      "final loss": Number.isFinite(result.lastLoss) ? result.lastLoss.toFixed(4) : "n/a",
      "tokens/s": Math.round(result.tokensPerS),
    },
  });
  return { ...result, outDir: o.out, summary };
}

function prepareOutDir(o: TrainOptions): void {
  if (o.resume) {
    mkdirSync(o.out, { recursive: true });
    return;
  }
  if (isNonEmptyDir(o.out)) {
    if (!o.overwrite) {
      throw new LoratuneError(
        "ERR_OUTPUT_EXISTS",
        `${o.out} already exists and is not empty (pass --overwrite to replace it, or --resume ${o.out} to continue it)`,
      );
    }
    rmSync(o.out, { recursive: true, force: true });
  }
  mkdirSync(o.out, { recursive: true });
}

function readData(o: TrainOptions, tok: Tokenizer | null, vocabSize: number): { train: Dataset; val: Dataset | null } {
  const files = dataFiles(o);
  // vocabSize: pre-tokenized ids are checked against the model's vocabulary with file:line errors.
  const opts = { seqLen: o.seqLen, trainOnPrompt: o.trainOnPrompt, trainOnAllMessages: o.trainOnPrompt, vocabSize };
  const all = readDataset(files, tok, opts);
  if (o.val) return { train: all, val: readDataset(o.val, tok, opts) };
  if (!(o.valSplit > 0)) return { train: all, val: null };
  if (o.valSplit >= 1) throw new LoratuneError("ERR_USAGE", `--val-split must be below 1 (got ${o.valSplit})`);
  const order = all.examples.map((_, i) => i);
  const rng = new Rng(o.seed + 1);
  for (let i = order.length - 1; i > 0; i--) {
    const j = rng.nextInt(i + 1);
    [order[i], order[j]] = [order[j]!, order[i]!];
  }
  const nVal = Math.max(1, Math.round(order.length * o.valSplit));
  const pick = (idx: number[]): Dataset => ({ examples: idx.map((i) => all.examples[i]!), stats: all.stats });
  return { train: pick(order.slice(nVal)), val: pick(order.slice(0, nVal)) };
}

/** Ids a tokenizer produced must also fit the model (a tokenizer can be larger than the model's embedding). */
function checkVocabulary(data: Dataset, model: LlamaModel, file: string): void {
  const V = model.config.vocabSize;
  for (const ex of data.examples) {
    for (const id of ex.ids) {
      if (id < 0 || id >= V)
        throw new LoratuneError("ERR_DATA", `${file}: token id ${id} is outside the model's vocabulary [0, ${V})`);
    }
  }
}

const dataFiles = (o: TrainOptions) => o.data.split(",").map((f) => f.trim());

/** The LoRA settings of a fresh adapter from the options. */
function loraSettings(o: TrainOptions): LoraConfig {
  return defaultLoraConfig({
    r: o.rank,
    loraAlpha: o.alpha,
    loraDropout: o.dropout,
    targetModules: parseTargets(o.targets),
    useRslora: o.rslora,
    layersToTransform: o.layers ? o.layers.split(",").map((s) => Number.parseInt(s, 10)) : null,
  });
}

/** Trainable parameters: all weights (--full), an existing adapter's (--init-adapter), or a fresh adapter's. */
function setupTrainable(
  o: TrainOptions,
  model: LlamaModel,
  fresh: LoraConfig | null,
): { params: TrainableParam[]; lora: LoraConfig | null } {
  if (o.full) return { params: enableFullTraining(model), lora: null };
  if (o.initAdapter) {
    const lora = loadAdapter(o.initAdapter, model, true);
    return { params: loraParams(model), lora };
  }
  const rng = new Rng(o.seed);
  attachLora(model, fresh!, () => rng.next());
  return { params: loraParams(model), lora: fresh };
}

function summarize(
  o: TrainOptions,
  model: LlamaModel,
  params: TrainableParam[],
  train: Dataset,
  val: Dataset | null,
): TrainSummary {
  const trainable = params.reduce((n, p) => n + p.data.length, 0);
  const total = countBaseParameters(model) + (o.full ? 0 : trainable);
  return {
    model: o.model,
    mode: o.full ? "full" : "lora",
    trainExamples: train.examples.length,
    valExamples: val?.examples.length ?? 0,
    trainTokens: train.examples.reduce((n, e) => n + e.ids.length, 0),
    labelTokens: train.stats.labelTokens,
    truncated: train.stats.truncated,
    trainableParams: trainable,
    totalParams: total,
    estimatedPeakBytes: estimateTrainingPeakBytes(model, trainable, o.batchSize, o.seqLen, o.gradCheckpoint),
  };
}

/** The resolved settings as saved in config.yaml (LoRA settings as PEFT names them). */
function runConfig(o: TrainOptions, lora: LoraConfig | null): Record<string, unknown> {
  const { resume: _r, overwrite: _o, ...rest } = o;
  return {
    ...rest,
    lora: lora
      ? {
          r: lora.r,
          lora_alpha: lora.loraAlpha,
          lora_dropout: lora.loraDropout,
          target_modules: lora.targetModules,
          use_rslora: lora.useRslora,
        }
      : null,
  };
}

/** What must not change across a resume: the data and everything that shapes the optimization. */
function fingerprint(o: TrainOptions, examples: Example[]): string {
  const h = createHash("sha256");
  const keys: (keyof TrainOptions)[] = [
    "batchSize",
    "gradAccum",
    "seqLen",
    "pack",
    "shuffle",
    "seed",
    "lr",
    "lrSchedule",
    "warmupSteps",
    "weightDecay",
    "maxGradNorm",
    "full",
    "rank",
    "alpha",
    "dropout",
    "targets",
    "rslora",
    "dtype",
  ];
  // A decaying schedule depends on the run's length; a constant one can be extended by resuming with more steps.
  if (o.lrSchedule !== "constant") keys.push("steps", "epochs");
  h.update(JSON.stringify(keys.map((key) => o[key])));
  for (const e of examples) h.update(Int32Array.from(e.ids)).update(Int32Array.from(e.labels));
  return h.digest("hex").slice(0, 16);
}
