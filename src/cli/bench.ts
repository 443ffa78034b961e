/**
 * `loratune bench` (`npm run bench`): training, prefill and decode throughput of named model shapes with random
 * weights, peak RSS, achieved GFLOP/s as a fraction of the matmul peak measured in the same run and, when
 * /usr/bin/python3 has torch, the same workloads under PyTorch (../shared/reference/bench_lora.py) side by side.
 */
import type { Command } from "commander";
import { formatReport } from "../bench/report.ts";
import { type BenchOptions, runBench, WORKLOAD_NAMES, type WorkloadName } from "../bench/run.ts";
import { parseShapeList, SHAPE_NAMES } from "../bench/shapes.ts";
import { DEFAULT_PYTHON, DEFAULT_REFERENCE_DIR } from "../bench/torch.ts";
import { LoratuneError } from "../errors.ts";
import type { StorageDType } from "../tensor/stored-tensor.ts";
import { snakeCaseKeys } from "./json-keys.ts";
import { parseInteger } from "./parse.ts";

interface BenchFlags {
  shapes?: string[];
  workloads: WorkloadName[];
  steps?: number;
  warmup?: number;
  dtype: string;
  threads?: number;
  vsTorch?: boolean;
  torch: boolean;
  python: string;
  torchReference: string;
  json?: boolean;
  quick?: boolean;
  profile?: boolean;
  gradCheckpoint?: boolean;
}

function parseWorkloads(value: string): WorkloadName[] {
  const names = value.split(",").map((s) => s.trim());
  for (const n of names) {
    if (!WORKLOAD_NAMES.includes(n as WorkloadName)) {
      throw new LoratuneError(
        "ERR_USAGE",
        `--workloads: unknown workload "${n}" (known: ${WORKLOAD_NAMES.join(", ")})`,
      );
    }
  }
  return names as WorkloadName[];
}

/** "f32", "bf16" or a comma list of both ("f32,bf16"), without repeats. */
function parseDtypes(value: string): StorageDType[] {
  const names = value.split(",").map((s) => s.trim());
  for (const n of names) {
    if (n !== "f32" && n !== "bf16") {
      throw new LoratuneError("ERR_USAGE", `--dtype: expected f32, bf16 or f32,bf16, got "${value}"`);
    }
  }
  if (new Set(names).size !== names.length) throw new LoratuneError("ERR_USAGE", `--dtype: "${value}" repeats a dtype`);
  return names as StorageDType[];
}

export function benchOptions(f: BenchFlags, onProgress?: (line: string) => void): BenchOptions {
  const dtypes = parseDtypes(f.dtype);
  if (f.vsTorch && !f.torch) throw new LoratuneError("ERR_USAGE", "--vs-torch and --no-torch contradict each other");
  return {
    shapes: f.shapes ?? (f.quick ? ["tiny"] : [...SHAPE_NAMES]),
    workloads: f.workloads,
    dtypes,
    ...(f.steps !== undefined ? { steps: f.steps } : {}),
    ...(f.warmup !== undefined ? { warmup: f.warmup } : {}),
    ...(f.threads !== undefined ? { threads: f.threads } : {}),
    torch: f.vsTorch ? "on" : f.torch ? "auto" : "off",
    quick: f.quick ?? false,
    profile: f.profile ?? false,
    gradCheckpoint: f.gradCheckpoint ?? false,
    python: f.python,
    referenceDir: f.torchReference,
    ...(onProgress ? { onProgress } : {}),
  };
}

export function registerBench(program: Command): void {
  program
    .command("bench")
    .description("measure training/prefill/decode throughput on model shapes with random weights (vs PyTorch)")
    .option(
      "--shapes <list>",
      `shapes to run: ${SHAPE_NAMES.join(", ")} (default: all; with --quick: tiny)`,
      parseShapeList,
    )
    .option("--workloads <list>", `workloads per shape: ${WORKLOAD_NAMES.join(", ")}`, parseWorkloads, [
      ...WORKLOAD_NAMES,
    ])
    .option("--steps <n>", "timed runs per workload (default: 5; smollm135: 3)", parseInteger("--steps", 1))
    .option("--warmup <n>", "untimed runs first (default: 2; smollm135: 1)", parseInteger("--warmup", 0))
    .option(
      "--dtype <list>",
      "in-memory dtype of the base weights: f32, bf16, or f32,bf16 for both in one run (PyTorch runs f32 once)",
      "f32",
    )
    .option("--threads <n>", "kernel threads (and PyTorch threads) (default: every core)", parseInteger("--threads", 1))
    .option("--vs-torch", "require the PyTorch comparison (error when torch is missing)")
    .option("--no-torch", "skip the PyTorch comparison even when torch is installed")
    .option("--python <path>", "Python with torch for the comparison", DEFAULT_PYTHON)
    .option("--torch-reference <dir>", "directory holding bench_lora.py", DEFAULT_REFERENCE_DIR)
    .option("--json", "print one JSON object, snake_case keys (progress still goes to stderr)")
    .option("--quick", "fast smoke run: tiny shape, batch 2×64, 2 timed runs")
    .option("--profile", "time every kernel call of the training steps and list the slowest")
    .option("--grad-checkpoint", "train with activation checkpointing (less memory, one more forward of time)")
    .action(async (f: BenchFlags) => {
      const options = benchOptions(f, (line) => process.stderr.write(`${line}\n`));
      const report = await runBench(options);
      if (f.json) console.log(JSON.stringify(snakeCaseKeys(report)));
      else console.log(formatReport(report));
      const failed = report.rows.filter((r) => r.error).length;
      if (failed > 0) throw new LoratuneError("ERR_IO", `${failed} of ${report.rows.length} bench workloads failed`);
    });
}
