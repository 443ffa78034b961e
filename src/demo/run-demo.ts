/**
 * `loratune demo`: shows LoRA teaching the bundled base model a task it cannot do. It scores held-out examples
 * before training (exact match), trains a LoRA adapter, scores again, merges the adapter and checks that merged
 * and unmerged outputs are identical and that the merged model decodes as fast as the base model.
 */
import { join } from "node:path";
import { type LoadedModel, loadForInference } from "../api/models.ts";
import { train } from "../api/train.ts";
import { LoratuneError } from "../errors.ts";
import { getKernels } from "../kernels/index.ts";
import { mergeLora } from "../lora/merge.ts";
import { DEMO_MODEL_DIR } from "../model/load.ts";
import { writeReport } from "../report/html.ts";
import { readMetrics } from "../report/metrics.ts";
import { scoreCompletions } from "../train/task-metric.ts";
import type { TrainEvent } from "../train/trainer.ts";
import { compareDecodeSpeed } from "./decode-speed.ts";
import { prepareDemoDir } from "./demo-dir.ts";
import { demoTaskItems, exactMatch, fieldAccuracy, generateTask, type PromptRow } from "./task.ts";

export { fieldAccuracy };

export interface DemoOptions {
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

export const DEMO_DEFAULTS = { seed: 7, steps: 3000, trainSize: 4000, testSize: 50, rank: 16, lr: 1e-3, batchSize: 8 };

export interface DemoResult {
  before: number;
  after: number;
  fieldsBefore: Record<string, number>;
  fieldsAfter: Record<string, number>;
  mergedIdentical: boolean;
  decodeRatio: number;
  outDir: string;
}

interface Scored {
  predictions: string[];
  accuracy: number;
  /** Share of examples with each field (name, job, town, item) right. */
  fields: Record<string, number>;
}

/** Greedy answers for every test prompt, scored by the task metric (the first line of each is compared). */
function score(m: LoadedModel, rows: PromptRow[]): Scored {
  const tok = m.tokenizer!;
  const { predictions, exactMatch } = scoreCompletions(getKernels(), m.model, demoTaskItems(tok, rows), tok);
  return { predictions, accuracy: exactMatch, fields: fieldAccuracy(predictions, rows) };
}

export async function runDemo(o: DemoOptions): Promise<DemoResult> {
  const say = o.say;
  const base = loadForInference({ model: DEMO_MODEL_DIR });
  if (!base.tokenizer) throw new LoratuneError("ERR_TOKENIZER", `${DEMO_MODEL_DIR}: the demo model has no tokenizer`);
  const task = generateTask({ seed: o.seed, trainSize: o.trainSize, testSize: o.testSize });
  const files = prepareDemoDir(o.out, task);
  const runDir = join(o.out, "run");

  say(`The task: fill a fixed card (name, job, town, item) from a sentence. The base model never saw this format.\n`);
  const before = score(base, task.test);
  const shown = task.test.slice(0, 3);
  showExamples(say, shown, before.predictions, "base model");
  say(`held-out exact match before training: ${pct(before.accuracy)} (${task.test.length} examples)\n`);

  await train(
    {
      ...trainDefaults(o),
      model: DEMO_MODEL_DIR,
      data: files.train,
      out: runDir,
    },
    {
      ...(o.onEvent ? { onEvent: o.onEvent } : {}),
      onSummary: (s) =>
        say(
          `training LoRA r=${o.rank} on all linear layers: ${s.trainableParams.toLocaleString("en-US")} trainable parameters (${((100 * s.trainableParams) / s.totalParams).toFixed(2)}% of ${(s.totalParams / 1e6).toFixed(1)}M)`,
        ),
    },
  );

  const tuned = loadForInference({ model: DEMO_MODEL_DIR, adapter: runDir });
  const after = score(tuned, task.test);
  showExamples(say, shown, after.predictions, "with the adapter");
  say(`held-out exact match after training: ${pct(after.accuracy)} (before: ${pct(before.accuracy)})`);
  say(
    `fields right after training: ${Object.entries(after.fields)
      .map(([k, v]) => `${k} ${pct(v)}`)
      .join(", ")}\n`,
  );

  mergeLora(getKernels(), tuned.model);
  const merged = score(tuned, task.test);
  const identical = merged.predictions.every((p, i) => p === after.predictions[i]);
  const prompt = tuned.tokenizer!.encode(task.test[0]!.prompt, { eos: false });
  const speed = compareDecodeSpeed(getKernels(), tuned.model, base.model, prompt);
  const ratio = speed.ratio;
  say(`merged adapter into the weights: outputs ${identical ? "identical to" : "DIFFERENT from"} the unmerged adapter`);
  say(
    `decode speed merged / base: ${ratio.toFixed(2)}× (${Math.round(speed.a)} vs ${Math.round(speed.b)} tokens/s, ` +
      "medians of 7 interleaved runs of 64 tokens)",
  );
  writeDemoReport(o, task.test, before, after, ratio);
  say(
    `\ndemo folder: ${o.out} (train.jsonl, test.jsonl, report.html); the run: ${runDir} (adapter, config.yaml, metrics.jsonl)`,
  );
  say(`for llama.cpp and Ollama: ${exportCommand(o.out, runDir)}`);
  return {
    before: before.accuracy,
    after: after.accuracy,
    fieldsBefore: before.fields,
    fieldsAfter: after.fields,
    mergedIdentical: identical,
    decodeRatio: ratio,
    outDir: runDir,
  };
}

/** The one command that exports the demo's result (the merged model as GGUF, with a Modelfile). */
export function exportCommand(out: string, runDir: string): string {
  return `loratune export --model demo --adapter ${runDir} --out ${join(out, "gguf")}`;
}

/** The demo run's settings where they differ from train's defaults (TRAIN_OPTIONS, ADAMW_DEFAULTS). */
function trainDefaults(o: DemoOptions) {
  return {
    rank: o.rank,
    alpha: 2 * o.rank,
    targets: "all-linear",
    steps: o.steps,
    batchSize: o.batchSize,
    seqLen: 128,
    seed: o.seed,
    lr: o.lr,
    lrSchedule: "cosine" as const,
    warmupSteps: 10,
    maxGradNorm: 1,
    keepCheckpoints: 1,
  };
}

function showExamples(say: (t: string) => void, rows: PromptRow[], predictions: string[], label: string): void {
  rows.forEach((row, i) => {
    const ok = exactMatch(predictions[i]!, row.completion);
    say(`  ${row.prompt.split("\n")[0]}`);
    say(`    ${label}: ${JSON.stringify(predictions[i]!.slice(0, 100))} ${ok ? "✓" : "✗"}`);
  });
}

const pct = (x: number) => `${(100 * x).toFixed(0)}%`;

function writeDemoReport(o: DemoOptions, test: PromptRow[], before: Scored, after: Scored, ratio: number): void {
  writeReport(join(o.out, "report.html"), {
    title: "loratune demo: LoRA on the bundled model",
    metrics: readMetrics(join(o.out, "run", "metrics.jsonl")),
    settings: {
      seed: o.seed,
      steps: o.steps,
      rank: o.rank,
      alpha: 2 * o.rank,
      lr: o.lr,
      "batch-size": o.batchSize,
      "train examples": o.trainSize,
      "test examples": o.testSize,
    },
    summary: {
      "exact match before": pct(before.accuracy),
      "exact match after": pct(after.accuracy),
      "merged/base decode speed": `${ratio.toFixed(2)}×`,
    },
    samples: {
      title: "Held-out examples",
      rows: test.slice(0, 10).map((r, i) => ({
        prompt: r.prompt,
        expected: r.completion,
        before: before.predictions[i]!,
        after: after.predictions[i]!,
      })),
    },
  });
}
