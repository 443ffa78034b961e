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
import { loraSettings, planRunMemory, type TrainRunOptions, trainRunOptions } from "../api/train.ts";
import { TRAIN_OPTIONS } from "../api/train-options.ts";
import type { TrainOptions } from "../api/train-types.ts";
import { readDataset } from "../data/dataset.ts";
import { checkOutputDir } from "../io/output-guard.ts";
import { familyOf } from "../model/arch/registry.ts";
import type { Tokenizer } from "../tokenizer/tokenizer.ts";
import type { TrainingMemory } from "../train/memory.ts";
import { availableMemory, checkMemoryFits } from "../train/memory-check.ts";
import { checkSeqLen, checksAfterReading, type PreflightIssue } from "../train/preflight.ts";
import { plannedSteps } from "../train/trainer.ts";

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
  const o = trainRunOptions({ ...camelValues(valid), out } as unknown as TrainOptions);
  const outProblem = attempt(() =>
    checkOutputDir({
      out,
      inputs: o.data.split(",").map((path) => ({ flag: "--data", path })),
      overwrite: false,
      replaceable: ["run"],
    }),
  );
  if (outProblem) errors.run = outProblem;
  preflightChecks(o, check, tokensPerS);
  return check;
}

/** train's preflight in its order; the first failing stage ends the checks (as it ends a run). */
function preflightChecks(o: TrainRunOptions, check: RunCheck, tokensPerS: number | null): void {
  const config = readBaseConfig(o.model);
  const say = (issues: PreflightIssue[], key: string) => {
    for (const i of issues) {
      if (i.level === "warning") check.warnings.push(`warning: ${i.message}`);
      else check.errors[key] ??= i.message;
    }
  };
  say(checkSeqLen(o.seqLen, config), "seq-len");
  const memory = planRunMemory(o, config);
  const available = availableMemory();
  check.estimate = {
    memory,
    availableBytes: available.bytes,
    steps: null,
    tokensPerStep: null,
    seconds: null,
    tokensPerS,
  };
  if (memory && o.memoryCheck) {
    const problem = attempt(() => checkMemoryFits(memory, available, [], "--no-memory-check"));
    if (problem) check.errors.run ??= problem;
  }
  const tok: Tokenizer | null = baseHasTokenizer(o.model) ? loadBaseTokenizer(o.model) : null;
  let data: ReturnType<typeof readDataset> | null = null;
  const dataProblem = attempt(() => {
    data = readDataset(o.data.split(","), tok, {
      seqLen: o.seqLen,
      trainOnPrompt: o.trainOnPrompt,
      trainOnAllMessages: o.trainOnPrompt,
      vocabSize: config.vocabSize,
    });
  });
  if (dataProblem || data === null) {
    check.errors.data ??= dataProblem ?? "no data";
    return;
  }
  const set = data as ReturnType<typeof readDataset>;
  let lora: ReturnType<typeof loraSettings> | null = null;
  if (!o.full && !o.initAdapter) {
    const targetProblem = attempt(() => {
      lora = loraSettings(o, familyOf(config));
    });
    if (targetProblem) check.errors.targets ??= targetProblem;
  }
  say(
    checksAfterReading({
      model: config,
      lora,
      tokenizer: tok,
      seqLen: o.seqLen,
      examples: set.examples,
      stats: set.stats,
      dataName: o.data,
    }),
    "data",
  );
  const steps = plannedSteps(set.examples, o, tok?.pad?.id ?? 0);
  const meanTokens = set.stats.tokens / Math.max(1, set.examples.length);
  const perStep = Math.round((o.pack ? o.seqLen : Math.min(o.seqLen, meanTokens)) * o.batchSize * o.gradAccum);
  check.estimate.steps = steps;
  check.estimate.tokensPerStep = perStep;
  check.estimate.seconds = tokensPerS ? (steps * perStep) / tokensPerS : null;
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
