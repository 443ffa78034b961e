/**
 * `train()`: the whole fine-tuning job behind `loratune train`. Every input is read and validated first (model,
 * tokenizer, data, preflight checks, the LoRA or full-training setup, the resume checkpoint); only then is the
 * run directory opened (see run-dir.ts) and training run. The run directory ends up holding the PEFT adapter (or
 * full model), metrics.jsonl, config.yaml (a valid --config), chat_template.jinja, report.html, checkpoints/ and
 * the loratune.json marker with the run's status.
 */
import { createHash } from "node:crypto";
import { join } from "node:path";
import { type Dataset, readDataset } from "../data/dataset.ts";
import { validationFiles } from "../data/dataset-folder.ts";
import type { Example } from "../data/encode.ts";
import type { RowShape } from "../data/shapes.ts";
import { LoratuneError } from "../errors.ts";
import { writeFileAtomic } from "../io/atomic.ts";
import { canonicalPath, checkOutputDir, type NamedInput } from "../io/output-guard.ts";
import { readMarker } from "../io/run-marker.ts";
import { getKernels, webgpuRequested } from "../kernels/index.ts";
import { adapterParams, attachAdapter } from "../lora/adapter.ts";
import {
  defaultLoraConfig,
  type InitLoraWeights,
  isInitLoraWeights,
  type LoraConfig,
  parseTargets,
} from "../lora/config.ts";
import type { AdapterConfig } from "../lora/method.ts";
import { enableModulesToSave } from "../lora/modules-to-save.ts";
import { isGgufFile, loadAdapter, readAdapterConfig, saveAdapter } from "../lora/peft-files.ts";
import { newTokenIndices, resizeVocabulary, trainTokenRows } from "../lora/trainable-tokens.ts";
import { familyOf } from "../model/arch/registry.ts";
import type { ModelConfig } from "../model/config.ts";
import { enableFullTraining } from "../model/full-params.ts";
import { loadModel, resolveModelDir } from "../model/load.ts";
import { countBaseParameters, type Model } from "../model/model.ts";
import { writeModelFiles } from "../model/save-dir.ts";
import { defaultTargetModules } from "../model/specs.ts";
import { lastEvalSamples, readMetrics, writeReport } from "../report/html.ts";
import type { QuantizeChoice, StorageDType } from "../tensor/formats/index.ts";
import { Rng } from "../tensor/rng.ts";
import type { TrainableParam } from "../tensor/trainable.ts";
import { addSpecialTokens, parseAddTokens } from "../tokenizer/added-tokens.ts";
import type { Tokenizer } from "../tokenizer/tokenizer.ts";
import { ADAMW_DEFAULTS } from "../train/adamw.ts";
import { readCheckpointState, resolveCheckpoint, runDirOf } from "../train/checkpoint.ts";
import { estimateTrainingPeakBytes, heldFormat, planTrainingMemory, type TrainingMemory } from "../train/memory.ts";
import { availableMemory, checkMemoryFits } from "../train/memory-check.ts";
import { MetricsLog } from "../train/metrics.ts";
import { checkRunPlan, scheduleExtensionNote } from "../train/plan-checks.ts";
import { isPreferenceMethod, type TrainMethod } from "../train/preference-loss.ts";
import { checkChatTemplate, checkSeqLen, checksAfterReading, reportPreflight } from "../train/preflight.ts";
import { lrAt } from "../train/schedule.ts";
import { checkTaskMetricData, scoreCompletions, type TaskMetric, taskItems } from "../train/task-metric.ts";
import {
  alreadyComplete,
  isComplete,
  plannedObjectiveSteps,
  plannedSteps,
  runTraining,
  type TrainResult,
  type TrainSettings,
} from "../train/trainer.ts";
import { checkInitAdapter } from "./init-adapter.ts";
import {
  baseHasTokenizer,
  baseHeldFormats,
  baseModelName,
  isGgufPath,
  loadBaseTokenizer,
  readBaseConfig,
  writeGgufSideFiles,
} from "./model-source.ts";
import { callerText, inCallerTerms, isCommandLine } from "./option-names.ts";
import { camelKey, type OptionValue, type OptionValues, resolveOptions } from "./options.ts";
import { parseLayersPattern, parsePatternMap } from "./pattern-options.ts";
import {
  checkPreferenceOptions,
  type PreferenceRunOptions,
  preferenceObjective,
  readPreferenceData,
} from "./preference-data.ts";
import { writeRunConfig } from "./run-config.ts";
import { RunDir, type RunDirMode } from "./run-dir.ts";
import { TRAIN_OPTIONS, trainOption } from "./train-options.ts";
import type { TrainHooks, TrainOptions, TrainOutcome, TrainSummary } from "./train-types.ts";
import { openTrainEngine } from "./train-webgpu.ts";

export type { TrainHooks, TrainOptions, TrainOutcome, TrainSummary } from "./train-types.ts";

/**
 * Every setting of a training run, as train() runs it: the CLI's flags camelCased (defaults and bounds in
 * TRAIN_OPTIONS, src/api/train-options.ts) and the AdamW constants (ADAMW_DEFAULTS), which have no flag.
 */
export interface TrainRunOptions extends TrainSettings {
  model: string;
  revision?: string | undefined;
  data: string;
  out: string;
  val?: string;
  valSplit: number;
  overwrite: boolean;
  full: boolean;
  dtype: StorageDType;
  /** Quantize the base's linear weights on load (--quantize). */
  quantize?: QuantizeChoice;
  rank: number;
  alpha: number;
  dropout: number;
  /** Unset: the model family's default targets (filled in by train() once config.json is read). */
  targets?: string;
  rslora: boolean;
  /** DoRA (PEFT's use_dora) instead of plain LoRA. */
  dora: boolean;
  /** LoRA initialisation: "kaiming" or another of PEFT's init_lora_weights (see TrainOptions.init). */
  init: string;
  layersPattern?: string;
  rankPattern?: string;
  alphaPattern?: string;
  modulesToSave?: string;
  addTokens?: string;
  layers?: string;
  initAdapter?: string;
  resume?: string;
  trainOnPrompt: boolean;
  chatTemplate?: string;
  /** The config file the options were read from (only checked as an input: --out may not hold it). */
  config?: string;
  /** Refuse, before loading, a run whose memory estimate exceeds the memory available (--no-memory-check: false). */
  memoryCheck: boolean;
  /** What evaluations score besides the validation loss (--metric). */
  metric: TaskMetric;
  /** The objective (--method): sft, or preference tuning with dpo, ipo or orpo. */
  method: TrainMethod;
  beta: number;
  labelSmoothing: number;
  orpoLambda: number;
}

/** The options with every unset one at its default; each given value checked against its bounds. */
export function trainRunOptions(options: TrainOptions): TrainRunOptions {
  const o = resolveOptions<TrainRunOptions>("train", TRAIN_OPTIONS, options);
  return {
    ...o,
    beta1: options.beta1 ?? ADAMW_DEFAULTS.beta1,
    beta2: options.beta2 ?? ADAMW_DEFAULTS.beta2,
    adamEps: options.adamEps ?? ADAMW_DEFAULTS.eps,
  };
}

/**
 * Fine-tunes `model` on `data` into the run directory `out`; every other option at its default unless given.
 * Resolves when the run completes, stops early, or is interrupted by `signal` (then checkpointed and
 * resumable). Errors name the options as given here (`seqLen`), the command line's as flags (`--seq-len`).
 */
export function train(options: TrainOptions, hooks: TrainHooks = {}): Promise<TrainOutcome> {
  return inCallerTerms(TRAIN_OPTIONS, () => runTrain(options, { ...hooks, ...callbacksOf(options) }));
}

/** The callbacks and signal given in the options (they are not settings of the run). */
function callbacksOf(o: TrainOptions): TrainHooks {
  const { onSummary, onEvent, onMessage, signal } = o;
  return {
    ...(onSummary ? { onSummary } : {}),
    ...(onEvent ? { onEvent } : {}),
    ...(onMessage ? { onMessage } : {}),
    ...(signal ? { signal } : {}),
  };
}

async function runTrain(options: TrainOptions, hooks: TrainHooks): Promise<TrainOutcome> {
  hooks.signal?.throwIfAborted();
  const o = trainRunOptions(options);
  const k = getKernels();
  const say = hooks.onMessage ?? ((m: string) => console.error(m));
  const warn = (m: string) => say(callerText(m, TRAIN_OPTIONS));
  const mode = checkTarget(o);
  const prepared = prepareTraining(o, warn);
  const { model, tok, trainSet, valSet, params, adapterConfig, summary, resumeFrom, resumeState, taskMetric, pairs } =
    prepared;
  hooks.onSummary?.(summary);
  const padId = tok?.pad?.id ?? 0;
  const objective = pairs ? preferenceObjective(o as PreferenceRunOptions, pairs, o, padId) : undefined;
  const totalSteps = objective ? plannedObjectiveSteps(objective, o) : plannedSteps(trainSet.examples, o, padId);
  reportPreflight(checkRunPlan(o, { totalSteps, hasVal: valSet !== null }), warn);
  if (resumeState) {
    if (isComplete(resumeState, o, totalSteps))
      return { ...alreadyComplete(resumeState), outDir: o.out, summary, totalSteps };
    noteExtension(o, resumeState.step, totalSteps, warn);
  }

  // LORATUNE_BACKEND=webgpu: the steps run on a GPU (what it cannot do is refused before the run directory is touched).
  const engine = webgpuRequested()
    ? await openTrainEngine(o, { model, params, resuming: Boolean(resumeFrom), preference: Boolean(pairs) }, say)
    : undefined;
  const run = RunDir.open(o.out, mode);
  try {
    const metrics = new MetricsLog(join(o.out, "metrics.jsonl"));
    metrics.truncateAfter(resumeState ? resumeState.step : -1);
    run.markRunning(resumeState?.step ?? 0, totalSteps, resumeState?.bestValLoss ?? null);
    writeRunConfig(o.out, optionValuesOf(o));
    if (tok?.chatTemplate) writeFileAtomic(join(o.out, "chat_template.jinja"), tok.chatTemplate);
    // --add-tokens: the run keeps the tokenizer that knows its tokens (eval, generate and merge read it).
    for (const [name, text] of prepared.tokenizerFiles ?? []) writeFileAtomic(join(o.out, name), text);
    let best: number | null = resumeState?.bestValLoss ?? null;
    const result = await runTraining({
      kernels: k,
      model,
      params,
      train: trainSet.examples,
      val: valSet?.examples ?? null,
      ...(objective ? { objective } : {}),
      ...(engine ? { engine } : {}),
      settings: o,
      outDir: o.out,
      ...(resumeFrom ? { resumeFrom } : {}),
      padId,
      fingerprint: fingerprint(o, trainSet.examples),
      ...(hooks.signal ? { signal: hooks.signal } : {}),
      ...(taskMetric ? { taskMetric } : {}),
      onEvent: (e) => {
        metrics.record(e);
        if (e.type === "eval") best = best === null ? e.valLoss : Math.min(best, e.valLoss);
        if (e.type === "checkpoint") run.markRunning(e.step, totalSteps, best);
        hooks.onEvent?.(e);
      },
    });
    const modelDir = resolveModelDir(o.model, o.revision);
    if (adapterConfig) saveAdapter(o.out, model, adapterConfig, baseModelName(o.model, modelDir));
    else {
      writeModelFiles(o.out, model, modelDir, model.sourceDtype);
      writeGgufSideFiles(o.out, modelDir);
    }
    writeRunReport(o, summary, result);
    run.finish(result.reason === "already_complete" ? "completed" : result.reason, result.steps, result.bestValLoss);
    return { ...result, outDir: o.out, summary, totalSteps };
  } catch (err) {
    warn(`loratune: ${run.fail(err)}`);
    throw err;
  } finally {
    engine?.close();
  }
}

/**
 * Everything read and validated before the run directory is touched: the model with its fresh (or initial)
 * adapter attached, the tokenizer and the data (lr-find and sweeps set a run up through it too).
 */
export function prepareTraining(o: TrainRunOptions, warn: (m: string) => void) {
  if (o.full && (o.dora || (o.loraplusLrRatio ?? 0) > 0)) {
    throw new LoratuneError("ERR_USAGE", "--dora and --loraplus-lr-ratio shape an adapter; --full trains no adapter");
  }
  if (o.dora && o.init !== "kaiming" && o.init !== "gaussian") {
    throw new LoratuneError(
      "ERR_USAGE",
      `--init ${o.init} with --dora is not supported (the conversion on save is plain LoRA's)`,
    );
  }
  if (o.full && o.modulesToSave) {
    throw new LoratuneError(
      "ERR_USAGE",
      "--modules-to-save trains modules beside an adapter; --full already trains every weight",
    );
  }
  checkAddTokens(o);
  if ((o.full || o.initAdapter) && o.init !== "kaiming") {
    const why = o.full ? "--full trains no adapter" : "--init-adapter starts from that adapter's weights";
    throw new LoratuneError("ERR_USAGE", `--init ${o.init} initialises a fresh adapter; ${why}`);
  }
  const modelDir = resolveModelDir(o.model, o.revision);
  if (isPreferenceMethod(o.method)) checkPreferenceOptions(o as PreferenceRunOptions);
  const resumeFrom = o.resume ? resolveCheckpoint(o.resume) : undefined;
  const resumeState = resumeFrom ? readCheckpointState(resumeFrom) : null;
  const config = readBaseConfig(modelDir);
  // --targets left unset: the family's default target_modules (PEFT's per model type). Filled in here, before the
  // fingerprint and config.yaml read it, so a run records what it adapted.
  o.targets ??= defaultTargetModules(config).join(",");
  // Preflight, one pass: each check once, as soon as what it reads is known (see train/preflight.ts).
  reportPreflight(checkSeqLen(o.seqLen, config), warn);
  if (o.memoryCheck) checkTrainingMemory(o, config);
  const model = loadModel(modelDir, { dtype: o.dtype, quantize: o.quantize, ropePositions: o.seqLen, config });
  const added = o.addTokens ? addTokensTo(model, modelDir, o.addTokens, o.chatTemplate) : null;
  const tok =
    added?.tokenizer ??
    (baseHasTokenizer(modelDir)
      ? loadBaseTokenizer(modelDir, o.chatTemplate ? { chatTemplateFile: o.chatTemplate } : {})
      : null);
  const onShape = (_file: string, shape: RowShape) => reportPreflight(checkChatTemplate([shape], tok, o.data), warn);
  const pairs = isPreferenceMethod(o.method) ? readPreferenceData(o as PreferenceRunOptions, tok, dataFiles(o)) : null;
  const { train: trainSet, val: valSet } = pairs ?? readData(o, tok, model.config.vocabSize, onShape);
  checkVocabulary(trainSet, model, o.data);
  const taskMetric = taskMetricOf(o, model, tok, trainSet, valSet);
  const fresh = o.full || o.initAdapter ? null : loraSettings(o, model.family);
  if (fresh && added) fresh.trainableTokenIndices = newTokenIndices(model, added.first, added.count);
  reportPreflight(
    checksAfterReading({
      model: config,
      lora: fresh,
      tokenizer: tok,
      seqLen: o.seqLen,
      examples: trainSet.examples,
      stats: trainSet.stats,
      dataName: o.data,
    }),
    warn,
  );
  const { params, lora: adapterConfig } = setupTrainable(o, model, fresh);
  const summary = summarize(o, model, params, trainSet, valSet);
  const tokenizerFiles = added?.files ?? null;
  return {
    model,
    tok,
    tokenizerFiles,
    trainSet,
    valSet,
    params,
    adapterConfig,
    summary,
    resumeFrom,
    resumeState,
    taskMetric,
    pairs,
  };
}

/** --add-tokens trains rows beside a fresh adapter: refused with --full, --init-adapter and preference methods. */
function checkAddTokens(o: TrainRunOptions): void {
  if (!o.addTokens) return;
  const other = o.full
    ? "--full"
    : o.initAdapter
      ? "--init-adapter"
      : isPreferenceMethod(o.method)
        ? `--method ${o.method}`
        : null;
  if (other !== null) {
    throw new LoratuneError(
      "ERR_USAGE",
      `--add-tokens trains new rows beside a fresh adapter; it cannot be combined with ${other}`,
    );
  }
}

/**
 * The base's tokenizer with --add-tokens added, and the model's vocabulary grown to hold them (new rows at the
 * mean of the old, as transformers' resize_token_embeddings). A GGUF base is refused (its tokenizer is metadata).
 */
function addTokensTo(model: Model, modelDir: string, list: string, chatTemplate: string | undefined) {
  if (isGgufPath(modelDir)) {
    throw new LoratuneError(
      "ERR_USAGE",
      `--add-tokens needs a model directory with tokenizer.json; ${modelDir} is a GGUF file, whose vocabulary cannot grow here`,
    );
  }
  const added = addSpecialTokens(modelDir, parseAddTokens(list), chatTemplate);
  resizeVocabulary(model, Math.max(model.config.vocabSize, added.first + added.count));
  return added;
}

/** The task metric over the validation rows (--metric exact-match), checked before the run starts; else none. */
function taskMetricOf(o: TrainRunOptions, model: Model, tok: Tokenizer | null, train: Dataset, val: Dataset | null) {
  if (o.metric !== "exact-match") return undefined;
  if (!val) {
    throw new LoratuneError(
      "ERR_USAGE",
      "--metric exact-match scores the validation rows: give --val FILE or --val-split FRACTION",
    );
  }
  checkTaskMetricData(val.files ?? train.files ?? [], o.trainOnPrompt);
  const items = taskItems(val.examples);
  const k = getKernels();
  return () => scoreCompletions(k, model, items, tok);
}

/**
 * Refuses a run whose memory estimate (from config.json and the options alone: nothing is loaded yet) exceeds the
 * memory available, naming both and the settings that would lower it.
 */
export function checkTrainingMemory(o: TrainRunOptions, config: ModelConfig): void {
  const memory = planRunMemory(o, config);
  if (memory === null) return; // a GGUF adapter's config is read with its tensors, once the model is loaded
  const remedies = [
    ...(o.full ? ["LoRA instead of --full"] : o.quantize !== "q4_k" ? ["--quantize q4_k"] : []),
    ...(o.gradCheckpoint ? [] : ["--grad-checkpoint"]),
    `a smaller --batch-size (${o.batchSize}) or --seq-len (${o.seqLen})`,
  ];
  checkMemoryFits(memory, availableMemory(), remedies, "--no-memory-check");
}

/**
 * A fresh adapter's config with the rows --add-tokens will train (ids from vocab_size up: the count is what the
 * estimate needs, the ids come from the tokenizer once it is read), for the memory estimate.
 */
function withTokenRows(c: LoraConfig, o: TrainRunOptions, config: ModelConfig): LoraConfig {
  if (!o.addTokens) return c;
  const ids = parseAddTokens(o.addTokens).map((_, i) => config.vocabSize + i);
  const rows: Record<string, number[]> = { embed_tokens: ids };
  if (!config.tieWordEmbeddings) rows.lm_head = ids;
  return { ...c, trainableTokenIndices: rows };
}

/**
 * The run's memory estimate from config.json and the options (nothing loaded), as the memory check and the UI's
 * estimate make it; null when the adapter's shape is not known before loading (a GGUF --init-adapter).
 */
export function planRunMemory(o: TrainRunOptions, config: ModelConfig): TrainingMemory | null {
  let adapter: AdapterConfig | null = null;
  if (!o.full) {
    if (!o.initAdapter) adapter = withTokenRows(loraSettings(o, familyOf(config)), o, config);
    else if (!isGgufFile(o.initAdapter)) adapter = readAdapterConfig(o.initAdapter);
    else return null;
  }
  return planTrainingMemory({
    config,
    formatOf:
      baseHeldFormats(resolveModelDir(o.model, o.revision), o.dtype, o.quantize) ??
      ((spec) => heldFormat(spec, o.dtype, o.quantize)),
    adapter,
    B: sequencesPerBatch(o),
    T: o.seqLen,
    checkpoint: o.gradCheckpoint ?? false,
    wholeBatch: isPreferenceMethod(o.method),
  });
}

/**
 * Where the run goes, checked before anything is read: a resumed run continues in its own directory; a new run
 * never replaces an input, the current directory, or anything loratune did not write.
 */
function checkTarget(o: TrainRunOptions): RunDirMode {
  if (o.resume) {
    const runDir = runDirOf(o.resume);
    if (canonicalPath(o.out) !== canonicalPath(runDir)) {
      throw new LoratuneError(
        "ERR_USAGE",
        `--resume continues the run in its own directory (${runDir}): --out must be that directory${isCommandLine() ? " (or left out)" : ""}`,
      );
    }
    return "resume";
  }
  const inputs: NamedInput[] = [
    ...dataFiles(o).map((path) => ({ flag: "--data", path })),
    { flag: "--model", path: resolveModelDir(o.model, o.revision) },
  ];
  for (const [flag, path] of [
    ["--val", o.val],
    ["--init-adapter", o.initAdapter],
    ["--chat-template", o.chatTemplate],
    ["--config", o.config],
  ] as const) {
    if (path) inputs.push({ flag, path });
  }
  return checkOutputDir({ out: o.out, inputs, overwrite: o.overwrite, replaceable: ["run"] });
}

/** Says what a longer (or shorter) run does to a decaying schedule, using the run's recorded length. */
function noteExtension(o: TrainRunOptions, done: number, totalSteps: number, warn: (m: string) => void): void {
  const oldTotal = readMarker(o.out)?.total_steps;
  if (oldTotal === undefined) return;
  const note = scheduleExtensionNote(o, done, oldTotal, totalSteps, (step, total) =>
    lrAt(step, o.lr, o.lrSchedule, o.warmupSteps, total),
  );
  if (note) warn(`note: ${note}`);
}

function writeRunReport(o: TrainRunOptions, summary: TrainSummary, result: TrainResult): void {
  const metrics = readMetrics(join(o.out, "metrics.jsonl"));
  writeReport(join(o.out, "report.html"), {
    title: `loratune run: ${o.out}`,
    metrics,
    samples: lastEvalSamples(metrics),
    settings: reportSettings(o),
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
}

/** The user's settings for the report: the saved ones (as in config.yaml), without control options. */
function reportSettings(o: TrainRunOptions): Record<string, string | number | boolean> {
  const out: Record<string, string | number | boolean> = {};
  for (const [key, v] of Object.entries(optionValuesOf(o))) {
    if (v !== undefined && !Array.isArray(v) && !trainOption(key)?.control) out[key] = v;
  }
  return out;
}

/** The options as values keyed by option key (kebab-case), as config files and config.yaml hold them. */
export function optionValuesOf(o: TrainRunOptions): OptionValues {
  const out: OptionValues = {};
  const rec = o as unknown as Record<string, OptionValue | undefined>;
  for (const d of TRAIN_OPTIONS) out[d.key] = rec[camelKey(d.key)];
  return out;
}

/**
 * The training data (each file read once; `onShape` sees each file's shape before its rows are encoded) and
 * the validation data: --val, or a --val-split share of the training rows.
 */
function readData(
  o: TrainRunOptions,
  tok: Tokenizer | null,
  vocabSize: number,
  onShape: (file: string, shape: RowShape) => void,
): { train: Dataset; val: Dataset | null } {
  // vocabSize: pre-tokenized ids are checked against the model's vocabulary with file:line errors.
  const opts = { seqLen: o.seqLen, trainOnPrompt: o.trainOnPrompt, trainOnAllMessages: o.trainOnPrompt, vocabSize };
  const all = readDataset(dataFiles(o), tok, { ...opts, onShape });
  const valFiles = validationFiles(o.val, dataFiles(o));
  if (valFiles) return { train: all, val: readDataset(valFiles, tok, opts) };
  if (!(o.valSplit > 0)) return { train: all, val: null };
  const order = all.examples.map((_, i) => i);
  const rng = new Rng(o.seed + 1);
  for (let i = order.length - 1; i > 0; i--) {
    const j = rng.nextInt(i + 1);
    [order[i], order[j]] = [order[j]!, order[i]!];
  }
  const nVal = Math.max(1, Math.round(order.length * o.valSplit));
  if (nVal >= order.length) {
    throw new LoratuneError(
      "ERR_USAGE",
      `--val-split ${o.valSplit} of ${order.length} row${order.length === 1 ? "" : "s"} leaves no training rows; lower it, or pass a separate --val file`,
    );
  }
  const pick = (idx: number[]): Dataset => ({
    examples: idx.map((i) => all.examples[i]!),
    stats: all.stats,
    files: all.files,
  });
  return { train: pick(order.slice(nVal)), val: pick(order.slice(0, nVal)) };
}

/**
 * Ids a tokenizer produced must also fit the model (a tokenizer can be larger than the model's embedding).
 * Pre-tokenized rows were checked as they were read, with file:line (negative ids, ids past the vocabulary).
 */
function checkVocabulary(data: Dataset, model: Model, file: string): void {
  const V = model.config.vocabSize;
  for (const ex of data.examples) {
    for (const id of ex.ids) {
      if (id >= V)
        throw new LoratuneError("ERR_DATA", `${file}: token id ${id} is outside the model's vocabulary [0, ${V})`);
    }
  }
}

/** Sequences in a micro-batch: --batch-size, or two per pair (chosen and rejected) in preference tuning. */
const sequencesPerBatch = (o: TrainRunOptions) => (isPreferenceMethod(o.method) ? 2 : 1) * o.batchSize;

const dataFiles = (o: TrainRunOptions) => o.data.split(",").map((f) => f.trim());

/** The LoRA settings of a fresh adapter from the options. */
export function loraSettings(o: TrainRunOptions, family: Model["family"]): LoraConfig {
  return defaultLoraConfig(
    {
      r: o.rank,
      loraAlpha: o.alpha,
      loraDropout: o.dropout,
      ...(o.targets !== undefined ? { targetModules: parseTargets(o.targets) } : {}),
      useRslora: o.rslora,
      ...(o.dora ? { method: "dora" } : {}),
      initLoraWeights: initLoraWeightsOf(o.init),
      rankPattern: o.rankPattern ? parsePatternMap("--rank-pattern", o.rankPattern, true) : {},
      alphaPattern: o.alphaPattern ? parsePatternMap("--alpha-pattern", o.alphaPattern, false) : {},
      layersPattern: parseLayersPattern(o.layersPattern),
      modulesToSave: parseLayersPattern(o.modulesToSave),
      layersToTransform: o.layers ? o.layers.split(",").map((s) => Number.parseInt(s, 10)) : null,
    },
    family,
  );
}

/** --init → PEFT's init_lora_weights ("kaiming" is its true). */
function initLoraWeightsOf(init: string): InitLoraWeights {
  const value = init === "kaiming" ? true : init;
  if (!isInitLoraWeights(value)) throw new LoratuneError("ERR_USAGE", `--init ${init} is not an initialisation`);
  return value;
}

/** Trainable parameters: all weights (--full), an existing adapter's (--init-adapter), or a fresh adapter's. */
function setupTrainable(
  o: TrainRunOptions,
  model: Model,
  fresh: LoraConfig | null,
): { params: TrainableParam[]; lora: AdapterConfig | null } {
  if (o.full) return { params: enableFullTraining(model), lora: null };
  if (o.initAdapter) {
    const adapter = loadAdapter(o.initAdapter, model, true);
    checkInitAdapter(o.initAdapter, adapter, optionValuesOf(o));
    return { params: [...adapterParams(model), ...enableModulesToSave(model, adapter)], lora: adapter };
  }
  const rng = new Rng(o.seed);
  attachAdapter(model, fresh!, () => rng.next());
  const rows = fresh!.trainableTokenIndices ? trainTokenRows(model, fresh!.trainableTokenIndices) : [];
  return { params: [...adapterParams(model), ...enableModulesToSave(model, fresh!), ...rows], lora: fresh };
}

function summarize(
  o: TrainRunOptions,
  model: Model,
  params: TrainableParam[],
  train: Dataset,
  val: Dataset | null,
): TrainSummary {
  const trainable = params.reduce((n, p) => n + p.data.length, 0);
  const total = countBaseParameters(model) + (o.full ? 0 : trainable);
  return {
    model: o.model,
    mode: o.full ? "full" : "lora",
    dataFiles: train.files ?? [],
    trainExamples: train.examples.length,
    valExamples: val?.examples.length ?? 0,
    trainTokens: train.examples.reduce((n, e) => n + e.ids.length, 0),
    labelTokens: train.stats.labelTokens,
    truncated: train.stats.truncated,
    trainableParams: trainable,
    totalParams: total,
    estimatedPeakBytes: estimateTrainingPeakBytes(
      model,
      trainable,
      sequencesPerBatch(o),
      o.seqLen,
      o.gradCheckpoint,
      isPreferenceMethod(o.method),
    ),
  };
}

/** What must not change across a resume: the data and everything that shapes the optimization. */
function fingerprint(o: TrainRunOptions, examples: Example[]): string {
  const h = createHash("sha256");
  const keys: (keyof TrainRunOptions)[] = [
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
    "quantize",
  ];
  // Settings added later count only when set, so the runs made before them keep their fingerprint.
  const later: (keyof TrainRunOptions)[] = ["dora", "loraplusLrRatio"];
  const values = [...keys.map((key) => o[key]), ...later.filter((key) => o[key]).map((key) => [key, o[key]])];
  if (isPreferenceMethod(o.method)) values.push(["method", o.method, o.beta, o.labelSmoothing, o.orpoLambda]);
  // Not the run's length: a resumed run may be extended (steps/epochs), and the schedule is laid out again.
  h.update(JSON.stringify(values));
  for (const e of examples) h.update(Int32Array.from(e.ids)).update(Int32Array.from(e.labels));
  return h.digest("hex").slice(0, 16);
}
