/**
 * The New run form's checks, worded as `loratune train` words them because they are the same checks: each value
 * against the option table (`--lr: must be greater than 0 (got "0")`), the required options, the output folder,
 * then train's preflight in its order (seq-len against the model, the memory estimate against the memory
 * available, the data read and encoded, the LoRA targets, labels and EOS). Errors are keyed by option, so the page
 * shows each beside its field; a check that belongs to no single field is keyed "run".
 *
 * The same pass gives the estimate: memory from train's own plan (planRunMemory), steps from the trainer's batch
 * plan, and time from the tokens/s of the workspace's earlier runs of the same model (none: no time estimate).
 */
import { baseHasTokenizer, loadBaseTokenizer, readBaseConfig } from "../api/model-source.ts";
import { camelKey, missingRequired, type OptionValues, validateOptions } from "../api/options.ts";
import { type PreferenceRunOptions, readPreferenceData } from "../api/preference-data.ts";
import {
  checkTrainingMemory,
  loraSettings,
  planRunMemory,
  type TrainRunOptions,
  trainRunOptions,
} from "../api/train.ts";
import { TRAIN_OPTIONS } from "../api/train-options.ts";
import type { TrainOptions } from "../api/train-types.ts";
import type { Dataset } from "../data/dataset.ts";
import { checkOutputDir } from "../io/output-guard.ts";
import { familyOf } from "../model/arch/registry.ts";
import type { ModelConfig } from "../model/config.ts";
import type { Tokenizer } from "../tokenizer/tokenizer.ts";
import type { TrainingMemory } from "../train/memory.ts";
import { availableMemory } from "../train/memory-check.ts";
import { isPreferenceMethod } from "../train/preference-loss.ts";
import { checkChatTemplate, checkSeqLen, checksAfterReading, type PreflightIssue } from "../train/preflight.ts";
import { plannedSteps } from "../train/trainer.ts";
import { readDatasetCached } from "./data-cache.ts";

export interface RunEstimate {
  memory: TrainingMemory | null;
  availableBytes: number;
  steps: number | null;
  tokensPerStep: number | null;
  /** Seconds, from earlier runs' tokens/s; null without one. */
  seconds: number | null;
  tokensPerS: number | null;
}

export interface RunCheck {
  /** Problems by option key ("run" for the run as a whole). */
  errors: Record<string, string>;
  warnings: string[];
  estimate: RunEstimate | null;
  /** `loratune train` arguments for these settings (only values that differ from the defaults). */
  args: string[];
}

/** Options the form does not show: set by the UI itself or only meaningful on the command line. */
export const FORM_HIDDEN = new Set(["out", "config", "overwrite", "resume", "json"]);

/**
 * Checks the form's `values` (option key → value as typed) for a run written to `out`. `tokensPerS`: the
 * throughput earlier runs of this model reached, for the time estimate.
 */
export function checkRun(values: OptionValues, out: string, tokensPerS: number | null): RunCheck {
  const errors: Record<string, string> = {};
  const valid: OptionValues = {};
  for (const d of TRAIN_OPTIONS) {
    if (FORM_HIDDEN.has(d.key) || values[d.key] === undefined || values[d.key] === "") continue;
    const problem = attempt(() => Object.assign(valid, validateOptions(TRAIN_OPTIONS, { [d.key]: values[d.key] })));
    if (problem) errors[d.key] = problem;
  }
  for (const flag of missingRequired(TRAIN_OPTIONS, { ...valid, out })) {
    const key = flag.slice(2).split(" ")[0]!;
    errors[key] ??= `train: missing required option ${flag}`;
  }
  const args = commandArgs(valid);
  const check: RunCheck = { errors, warnings: [], estimate: null, args };
  if (Object.keys(errors).length > 0) return check;
  let o: TrainRunOptions | null = null;
  const combined = attempt(() => {
    o = trainRunOptions({ ...camelValues(valid), out } as unknown as TrainOptions);
  });
  if (combined || o === null) {
    errors.run = combined ?? "invalid settings";
    return check;
  }
  return checkResolved(o, out, check, tokensPerS);
}

/** The checks of settings each valid alone: the output folder, then train's preflight. */
function checkResolved(o: TrainRunOptions, out: string, check: RunCheck, tokensPerS: number | null): RunCheck {
  const outProblem = attempt(() =>
    checkOutputDir({
      out,
      inputs: o.data.split(",").map((path) => ({ flag: "--data", path })),
      overwrite: false,
      replaceable: ["run"],
    }),
  );
  if (outProblem) check.errors.run = outProblem;
  preflightChecks(o, check, tokensPerS);
  return check;
}

/** The form field a preflight check is about (train/preflight.ts names the checks); others go to the data. */
const FIELD_OF_CHECK: Record<string, string> = {
  seq_len_too_long: "seq-len",
  targets_match_nothing: "targets",
  target_unused: "targets",
  layers_out_of_range: "layers",
};

/** train's preflight in its order; a stage that fails ends the checks (as it ends a run). */
function preflightChecks(o: TrainRunOptions, check: RunCheck, tokensPerS: number | null): void {
  const say = (issues: PreflightIssue[], key: string) => {
    for (const i of issues) {
      if (i.level === "warning") check.warnings.push(`warning: ${i.message}`);
      else check.errors[FIELD_OF_CHECK[i.check] ?? key] ??= i.message;
    }
  };
  let config: ModelConfig | null = null;
  let tok: Tokenizer | null = null;
  const modelProblem = attempt(() => {
    config = readBaseConfig(o.model);
    tok = baseHasTokenizer(o.model) ? loadBaseTokenizer(o.model) : null;
  });
  if (modelProblem || config === null) {
    check.errors.model ??= modelProblem ?? "no model";
    return;
  }
  const model: ModelConfig = config;
  say(checkSeqLen(o.seqLen, model), "seq-len");
  const available = availableMemory();
  check.estimate = {
    memory: planRunMemory(o, model),
    availableBytes: available.bytes,
    steps: null,
    tokensPerStep: null,
    seconds: null,
    tokensPerS,
  };
  if (o.memoryCheck) {
    const problem = attempt(() => checkTrainingMemory(o, model));
    if (problem) check.errors.run ??= problem;
  }
  if (isPreferenceMethod(o.method)) {
    // Preference pairs are read as train reads them; their steps depend on the pairs' objective (not estimated).
    const problem = attempt(() => readPreferenceData(o as PreferenceRunOptions, tok, o.data.split(",")));
    if (problem) check.errors.data ??= problem;
    return;
  }
  const data = readData(o, model, tok, (issues) => say(issues, "data"));
  if ("problem" in data) {
    check.errors.data ??= data.problem;
    return;
  }
  say(afterReading(o, model, tok, data.set, check.errors), "data");
  estimateTime(o, data.set, tok, check.estimate);
}

/** The training data encoded as train encodes it (the chat-template check on each file's shape), or the problem. */
function readData(
  o: TrainRunOptions,
  model: ModelConfig,
  tok: Tokenizer | null,
  say: (i: PreflightIssue[]) => void,
): { problem: string } | { set: Dataset } {
  let set: Dataset | null = null;
  const problem = attempt(() => {
    set = readDatasetCached(o.model, o.data.split(","), tok, {
      seqLen: o.seqLen,
      trainOnPrompt: o.trainOnPrompt,
      trainOnAllMessages: o.trainOnPrompt,
      vocabSize: model.vocabSize,
      onShape: (_file, shape) => say(checkChatTemplate([shape], tok, o.data)),
    });
  });
  return problem || set === null ? { problem: problem ?? "no data" } : { set: set as Dataset };
}

/** The checks on the encoded data and the LoRA targets (a bad --targets is keyed to its field). */
function afterReading(
  o: TrainRunOptions,
  model: ModelConfig,
  tok: Tokenizer | null,
  set: Dataset,
  errors: Record<string, string>,
): PreflightIssue[] {
  let lora: ReturnType<typeof loraSettings> | null = null;
  if (!o.full && !o.initAdapter) {
    const targetProblem = attempt(() => {
      lora = loraSettings(o, familyOf(model));
    });
    if (targetProblem) errors.targets ??= targetProblem;
  }
  return checksAfterReading({
    model,
    lora,
    tokenizer: tok,
    seqLen: o.seqLen,
    examples: set.examples,
    stats: set.stats,
    dataName: o.data,
  });
}

/** Steps from the trainer's batch plan; seconds from the tokens per step and earlier runs' tokens/s. */
function estimateTime(o: TrainRunOptions, set: Dataset, tok: Tokenizer | null, estimate: RunEstimate): void {
  const steps = plannedSteps(set.examples, o, tok?.pad?.id ?? 0);
  const meanTokens = set.stats.tokens / Math.max(1, set.examples.length);
  const perStep = Math.round((o.pack ? o.seqLen : Math.min(o.seqLen, meanTokens)) * o.batchSize * o.gradAccum);
  estimate.steps = steps;
  estimate.tokensPerStep = perStep;
  estimate.seconds = estimate.tokensPerS ? (steps * perStep) / estimate.tokensPerS : null;
}

/** `train` arguments for the values that differ from their defaults (booleans as --flag / --no-flag). */
export function commandArgs(values: OptionValues): string[] {
  const args: string[] = [];
  for (const d of TRAIN_OPTIONS) {
    const v = values[d.key];
    if (FORM_HIDDEN.has(d.key) || v === undefined || v === d.default) continue;
    if (d.kind === "bool") {
      if (v === true && !d.negate) args.push(`--${d.key}`);
      else if (v === false && d.negate) args.push(`--no-${d.key}`);
    } else args.push(`--${d.key}`, Array.isArray(v) ? v.join(",") : String(v));
  }
  return args;
}

function camelValues(values: OptionValues): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(values)) if (v !== undefined) out[camelKey(k)] = v;
  return out;
}

/** The error message of `f`, or null when it succeeds. */
function attempt(f: () => unknown): string | null {
  try {
    f();
    return null;
  } catch (err) {
    return err instanceof Error ? err.message : String(err);
  }
}
