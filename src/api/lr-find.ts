/**
 * `lrFind()`, behind `loratune lr-find`: the learning-rate range test (src/train/lr-range.ts) for a given rank and
 * alpha. The model, data and adapter are set up exactly as `train` sets them up (the same options, defaults and
 * checks); the test then writes its output folder: lr-find.json (every point, the suggestion and its rule, the
 * settings), lr-find.html (the chart) and the loratune.json marker. Nothing is written before every input was read.
 */
import { mkdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { LoratuneError } from "../errors.ts";
import { writeFileAtomic } from "../io/atomic.ts";
import { checkOutputDir } from "../io/output-guard.ts";
import { writeMarker } from "../io/run-marker.ts";
import { getKernels } from "../kernels/index.ts";
import { renderLrFindPage } from "../report/lr-find.ts";
import { type LrPoint, type LrSuggestion, runLrRange, suggestLr } from "../train/lr-range.ts";
import { callerText, inCallerTerms } from "./option-names.ts";
import { camelKey, type OptionDef, resolveOptions } from "./options.ts";
import { prepareTraining, trainRunOptions } from "./train.ts";
import { trainOption } from "./train-options.ts";
import type { TrainOptions } from "./train-types.ts";

/** The train options that shape the range test, with train's own defaults, bounds and help. */
const FROM_TRAIN = [
  "model",
  "revision",
  "data",
  "rank",
  "alpha",
  "dropout",
  "targets",
  "rslora",
  "dora",
  "init",
  "layers",
  "layers-pattern",
  "rank-pattern",
  "alpha-pattern",
  "modules-to-save",
  "dtype",
  "quantize",
  "batch-size",
  "grad-accum",
  "seq-len",
  "pack",
  "shuffle",
  "seed",
  "weight-decay",
  "loraplus-lr-ratio",
  "max-grad-norm",
  "train-on-prompt",
  "chat-template",
  "memory-check",
];

function fromTrain(key: string): OptionDef {
  const d = trainOption(key);
  if (!d) throw new Error(`lr-find: train has no option ${key}`);
  return d;
}

export const LR_FIND_OPTIONS: readonly OptionDef[] = [
  ...FROM_TRAIN.slice(0, 2).map(fromTrain),
  {
    key: "out",
    kind: "string",
    help: "output folder for lr-find.json, lr-find.html and the marker",
    metavar: "dir",
    required: true,
  },
  {
    key: "overwrite",
    kind: "bool",
    help: "replace --out if it is an earlier lr-find output",
    default: false,
    control: true,
  },
  { key: "start-lr", kind: "number", help: "learning rate of the first step", default: 1e-6, above: 0 },
  { key: "end-lr", kind: "number", help: "learning rate of the last step", default: 0.1, above: 0 },
  {
    key: "steps",
    kind: "int",
    help: "optimizer steps of the test (the rate grows exponentially)",
    default: 100,
    min: 2,
  },
  ...FROM_TRAIN.slice(2).map(fromTrain),
  {
    key: "json",
    kind: "bool",
    help: "print the result as one JSON object (the content of lr-find.json)",
    control: true,
    cliOnly: true,
  },
];

/** What `lrFind()` takes: train's options for the model, data and adapter, and the test's own. */
export interface LrFindOptions
  extends Pick<
    TrainOptions,
    | "model"
    | "revision"
    | "data"
    | "rank"
    | "alpha"
    | "dropout"
    | "targets"
    | "rslora"
    | "dora"
    | "init"
    | "layers"
    | "layersPattern"
    | "rankPattern"
    | "alphaPattern"
    | "modulesToSave"
    | "dtype"
    | "quantize"
    | "batchSize"
    | "gradAccum"
    | "seqLen"
    | "pack"
    | "shuffle"
    | "seed"
    | "weightDecay"
    | "loraplusLrRatio"
    | "maxGradNorm"
    | "trainOnPrompt"
    | "chatTemplate"
    | "memoryCheck"
    | "signal"
    | "onMessage"
  > {
  /** Output folder for lr-find.json, lr-find.html and the marker. */
  out: string;
  /**
   * Replace `out` if it is an earlier lr-find output.
   * @defaultValue false
   */
  overwrite?: boolean;
  /**
   * Learning rate of the first step, above 0.
   * @defaultValue 0.000001
   */
  startLr?: number;
  /**
   * Learning rate of the last step, above 0.
   * @defaultValue 0.1
   */
  endLr?: number;
  /**
   * Optimizer steps of the test, at least 2 (the rate grows exponentially).
   * @defaultValue 100
   */
  steps?: number;
  /** Called after each step with its point. */
  onPoint?: (p: LrPoint) => void;
}

export interface LrFindResult {
  points: LrPoint[];
  /** The loss diverged before the last step (the test stopped there). */
  diverged: boolean;
  suggestion: LrSuggestion;
  /** The settings the test ran with (option keys as the flags). */
  settings: Record<string, string | number | boolean>;
  outDir: string;
}

type Resolved = LrFindOptions & { startLr: number; endLr: number; steps: number; overwrite: boolean };

/** Runs the range test and writes its folder; resolves with the points and the suggested learning rate. */
export function lrFind(options: LrFindOptions): Promise<LrFindResult> {
  return inCallerTerms(LR_FIND_OPTIONS, () => runLrFind(options));
}

async function runLrFind(options: LrFindOptions): Promise<LrFindResult> {
  options.signal?.throwIfAborted();
  const o = resolveOptions<Resolved>("lr-find", LR_FIND_OPTIONS, options);
  if (o.endLr <= o.startLr) {
    throw new LoratuneError("ERR_USAGE", `--end-lr (${o.endLr}) must be greater than --start-lr (${o.startLr})`);
  }
  const run = trainRunOptions({ ...trainPart(o), out: o.out, steps: o.steps });
  const state = checkOutputDir({
    out: o.out,
    inputs: o.data.split(",").map((path) => ({ flag: "--data", path: path.trim() })),
    overwrite: o.overwrite,
    replaceable: ["lr-find"],
  });
  const say = o.onMessage ?? ((m: string) => console.error(m));
  const { model, tok, trainSet, params } = prepareTraining(run, (m) => say(callerText(m, LR_FIND_OPTIONS)));
  const { points, diverged } = await runLrRange({
    kernels: getKernels(),
    model,
    params,
    train: trainSet.examples,
    settings: run,
    startLr: o.startLr,
    endLr: o.endLr,
    steps: o.steps,
    padId: tok?.pad?.id ?? 0,
    ...(o.signal ? { signal: o.signal } : {}),
    ...(o.onPoint ? { onPoint: o.onPoint } : {}),
  });
  const suggestion = suggestLr(points);
  const settings = settingsOf(o, run.targets ?? "");
  if (state === "replace") rmSync(o.out, { recursive: true, force: true });
  mkdirSync(o.out, { recursive: true });
  writeMarker(o.out, { kind: "lr-find" });
  const result = { points, diverged, suggestion, settings, outDir: o.out };
  writeFileAtomic(join(o.out, "lr-find.json"), `${JSON.stringify(lrFindJson(result), null, 1)}\n`);
  const title = `loratune lr-find: rank ${run.rank}, alpha ${run.alpha}`;
  writeFileAtomic(join(o.out, "lr-find.html"), renderLrFindPage({ title, points, suggestion, diverged, settings }));
  return result;
}

/** The train options among the given ones (what prepareTraining reads). */
function trainPart(o: Resolved): TrainOptions {
  const out: Record<string, unknown> = {};
  const rec = o as unknown as Record<string, unknown>;
  for (const key of FROM_TRAIN) if (rec[camelKey(key)] !== undefined) out[camelKey(key)] = rec[camelKey(key)];
  return out as unknown as TrainOptions;
}

/** The settings of the test by option key, targets as resolved (the family's default when not given). */
function settingsOf(o: Resolved, targets: string): Record<string, string | number | boolean> {
  const out: Record<string, string | number | boolean> = {};
  const rec = o as unknown as Record<string, unknown>;
  for (const d of LR_FIND_OPTIONS) {
    const v = rec[camelKey(d.key)];
    if (!d.control && (typeof v === "string" || typeof v === "number" || typeof v === "boolean")) out[d.key] = v;
  }
  out.targets = targets;
  return out;
}

/** lr-find.json (and `lr-find --json`): snake_case keys, as every JSON file loratune writes. */
export function lrFindJson(r: Omit<LrFindResult, "outDir">): Record<string, unknown> {
  const s = r.suggestion;
  return {
    suggested_lr: s.lr,
    rule: s.rule,
    min_loss_lr: s.minLossLr,
    min_loss: s.minLoss,
    steepest_lr: s.steepestLr,
    diverged: r.diverged,
    settings: r.settings,
    points: r.points.map((p) => ({ step: p.step, lr: p.lr, loss: p.loss, smoothed: p.smoothed })),
  };
}
