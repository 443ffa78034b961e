/**
 * `loratune demo --compare`: the demo task trained with LoRA at a few ranks and with full fine-tuning, each in its
 * own process (so peak memory is per run), reporting held-out exact match, final validation loss, trainable
 * parameters, peak RSS, wall time, tokens/s and the size on disk of what was saved.
 */
import { spawnSync } from "node:child_process";
import { statSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { type LoadedModel, loadForInference } from "../api/models.ts";
import { LoratuneError } from "../errors.ts";
import { getKernels } from "../kernels/index.ts";
import { DEMO_MODEL_DIR } from "../model/load.ts";
import { writeReport } from "../report/html.ts";
import { scoreCompletions } from "../train/task-metric.ts";
import { prepareDemoDir } from "./demo-dir.ts";
import { demoTaskItems, generateTask, type PromptRow } from "./task.ts";

export interface CompareOptions {
  out: string;
  seed: number;
  steps: number;
  ranks: number[];
  loraLr: number;
  fullLr: number;
  trainSize: number;
  testSize: number;
  say: (t: string) => void;
}

export interface CompareRow {
  method: string;
  exactMatch: number;
  valLoss: number;
  trainableParams: number;
  peakRssMb: number;
  wallS: number;
  tokensPerS: number;
  savedBytes: number;
}

const BIN = fileURLToPath(new URL("../../bin/loratune.js", import.meta.url));

export function runCompare(o: CompareOptions): CompareRow[] {
  const task = generateTask({ seed: o.seed, trainSize: o.trainSize, testSize: o.testSize });
  const { train: trainFile, test: testFile } = prepareDemoDir(o.out, task);
  const runs = [
    ...o.ranks.map((r) => ({
      method: `LoRA r=${r}`,
      dir: join(o.out, `lora-r${r}`),
      args: ["--rank", String(r), "--alpha", String(2 * r), "--targets", "all-linear", "--lr", String(o.loraLr)],
    })),
    { method: "full fine-tuning", dir: join(o.out, "full"), args: ["--full", "--lr", String(o.fullLr)] },
  ];
  const rows: CompareRow[] = [];
  for (const run of runs) {
    o.say(`training ${run.method} …`);
    const started = performance.now();
    const common = [
      "train",
      "--model",
      DEMO_MODEL_DIR,
      "--data",
      trainFile,
      "--val",
      testFile,
      "--out",
      run.dir,
      "--steps",
      String(o.steps),
    ];
    const flags = [
      "--batch-size",
      "8",
      "--seq-len",
      "128",
      "--seed",
      String(o.seed),
      "--lr-schedule",
      "cosine",
      "--warmup-steps",
      "10",
      "--max-grad-norm",
      "1",
      "--json",
    ];
    const child = spawnSync(process.execPath, [BIN, ...common, ...flags, ...run.args], {
      encoding: "utf8",
      maxBuffer: 256 * 2 ** 20,
    });
    if (child.status !== 0)
      throw new LoratuneError(
        "ERR_USAGE",
        `${run.method} failed:\n${child.stderr.trim().split("\n").slice(-3).join("\n")}`,
      );
    const wallS = (performance.now() - started) / 1000;
    const lines = child.stdout
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as Record<string, number>);
    const done = lines.find((l) => (l.type as unknown) === "done")!;
    const model = run.method.startsWith("LoRA")
      ? loadForInference({ model: DEMO_MODEL_DIR, adapter: run.dir })
      : loadForInference({ model: run.dir });
    const saved = run.method.startsWith("LoRA")
      ? join(run.dir, "adapter_model.safetensors")
      : join(run.dir, "model.safetensors");
    rows.push({
      method: run.method,
      exactMatch: exactMatchRate(model, task.test),
      valLoss: done.best_val_loss ?? Number.NaN,
      trainableParams: done.trainable_params!,
      peakRssMb: done.peak_rss_mb!,
      wallS,
      tokensPerS: done.tokens_per_s!,
      savedBytes: statSync(saved).size,
    });
    o.say(formatRow(rows.at(-1)!));
  }
  writeReport(join(o.out, "report.html"), {
    title: "loratune: LoRA against full fine-tuning on the demo task",
    metrics: [],
    settings: { seed: o.seed, steps: o.steps, ranks: o.ranks.join(", "), "LoRA lr": o.loraLr, "full lr": o.fullLr },
    tables: [{ title: "Results", columns: TABLE_COLUMNS, rows: rows.map(tableRow) }],
  });
  return rows;
}

function exactMatchRate(m: LoadedModel, rows: PromptRow[]): number {
  return scoreCompletions(getKernels(), m.model, demoTaskItems(m.tokenizer!, rows), m.tokenizer).exactMatch;
}

export const TABLE_COLUMNS = [
  "method",
  "exact match",
  "val loss",
  "trainable params",
  "peak RSS (MB)",
  "wall (s)",
  "tokens/s",
  "saved (MB)",
];

export function tableRow(r: CompareRow): (string | number)[] {
  return [
    r.method,
    `${(100 * r.exactMatch).toFixed(0)}%`,
    r.valLoss.toFixed(4),
    r.trainableParams.toLocaleString("en-US"),
    Math.round(r.peakRssMb),
    r.wallS.toFixed(1),
    Math.round(r.tokensPerS),
    (r.savedBytes / 2 ** 20).toFixed(2),
  ];
}

function formatRow(r: CompareRow): string {
  return TABLE_COLUMNS.map((c, i) => `${c}: ${tableRow(r)[i]}`).join(" | ");
}

/** The comparison as a Markdown table (for the README). */
export function markdownTable(rows: CompareRow[]): string {
  const head = `| ${TABLE_COLUMNS.join(" | ")} |`;
  const sep = `|${TABLE_COLUMNS.map(() => "---").join("|")}|`;
  return [head, sep, ...rows.map((r) => `| ${tableRow(r).join(" | ")} |`)].join("\n");
}
