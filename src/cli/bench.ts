/**
 * `loratune bench` (`npm run bench`): training, prefill and decode throughput of named model shapes with random
 * weights, peak RSS, each as a fraction of the machine's limits measured in the same run (matmul peak, memory
 * bandwidth) and side by side with the anchors: PyTorch f32 and bf16 autocast (bench_lora.py) when
 * /usr/bin/python3 has torch and the PyTorch reference is given (--torch-reference or LORATUNE_TORCH_REFERENCE), and
 * llama.cpp in its own process where node-llama-cpp loads.
 */
import type { Command } from "commander";
import { camelKey, type OptionDef, withDefaults } from "../api/options.ts";
import { formatReport } from "../bench/report.ts";
import { type BenchOptions, runBench, WORKLOAD_NAMES, type WorkloadName } from "../bench/run.ts";
import { DEFAULT_SHAPES, parseShapeList, SHAPE_NAMES } from "../bench/shapes.ts";
import { DEFAULT_PYTHON, TORCH_REFERENCE_ENV, torchReferenceDir } from "../bench/torch.ts";
import { LoratuneError } from "../errors.ts";
import { QUANTIZE_CHOICES, STORAGE_DTYPES, type StorageDType } from "../tensor/formats/index.ts";
import { snakeCaseKeys } from "./json-keys.ts";
import { addOptions } from "./options.ts";

/** The bench flags, camelCased (BENCH_OPTIONS). */
interface BenchFlags {
  shapes?: string[];
  workloads: WorkloadName[];
  steps?: number;
  warmup?: number;
  dtype: string;
  threads?: number;
  vsTorch?: boolean;
  torch: boolean;
  sharedMachine: boolean;
  torchBf16: boolean;
  llamaCpp: boolean;
  python: string;
  torchReference?: string;
  json?: boolean;
  quick: boolean;
  profile: boolean;
  gradCheckpoint: boolean;
  rank?: number;
  batchSize?: number;
  seqLen?: number;
  memoryCheck: boolean;
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

/** A weight format's name ("f32", "bf16") or a comma list of them ("f32,bf16"), without repeats. */
function parseDtypes(value: string): StorageDType[] {
  const names = value.split(",").map((s) => s.trim());
  const known: string[] = [...STORAGE_DTYPES, ...QUANTIZE_CHOICES];
  for (const n of names) {
    if (!known.includes(n)) {
      const all = `${known.join(", ")} or a comma list of them`;
      throw new LoratuneError("ERR_USAGE", `--dtype: expected ${all}, got "${value}"`);
    }
  }
  if (new Set(names).size !== names.length) throw new LoratuneError("ERR_USAGE", `--dtype: "${value}" repeats a dtype`);
  return names as StorageDType[];
}

/** `loratune bench`'s options (camelCased as BenchFlags); benchOptions() fills the defaults from here. */
export const BENCH_OPTIONS: readonly OptionDef[] = [
  {
    key: "shapes",
    kind: "string",
    help: `shapes to run: ${SHAPE_NAMES.join(", ")}`,
    defaultText: `${DEFAULT_SHAPES.join(",")}; with --quick: tiny`,
    metavar: "list",
    parse: parseShapeList,
  },
  {
    key: "workloads",
    kind: "string",
    help: `workloads per shape: ${WORKLOAD_NAMES.join(", ")}`,
    default: [...WORKLOAD_NAMES],
    metavar: "list",
    parse: parseWorkloads,
  },
  { key: "steps", kind: "int", help: "timed runs per workload", defaultText: "5; smollm135: 3", min: 1 },
  { key: "warmup", kind: "int", help: "untimed runs first", defaultText: "2; smollm135: 1", min: 0 },
  {
    key: "dtype",
    kind: "string",
    help: "in-memory dtype of the base weights: f32, bf16, f16, or q8_0/q4_k (bf16 with the linear weights quantized), or a comma list run in one go, e.g. bf16,q8_0,q4_k (PyTorch runs once per mode, f32 and bf16 autocast; llama.cpp once per dtype)",
    default: "f32",
    metavar: "list",
  },
  {
    key: "threads",
    kind: "int",
    help: "kernel threads (and the threads of PyTorch and llama.cpp)",
    defaultText: "every core",
    min: 1,
  },
  { key: "vs-torch", kind: "bool", help: "require the PyTorch comparison (error when torch is missing)" },
  {
    key: "torch",
    kind: "bool",
    negate: true,
    help: "skip the PyTorch comparison even when torch is installed",
    default: true,
  },
  {
    key: "torch-bf16",
    kind: "bool",
    negate: true,
    help: "skip PyTorch's bf16 autocast column (on a CPU without bf16 instructions its fallback is far slower than its f32)",
    default: true,
  },
  {
    key: "shared-machine",
    kind: "bool",
    help: "the machine runs other work too: PyTorch gets OMP_WAIT_POLICY=PASSIVE (else OpenMP's default wait policy, its best on a quiet machine); the report says which",
    default: false,
  },
  {
    key: "llama-cpp",
    kind: "bool",
    negate: true,
    help: "skip the llama.cpp prefill and decode comparison (run in its own process) even when node-llama-cpp loads",
    default: true,
  },
  {
    key: "python",
    kind: "string",
    help: "Python with torch for the comparison",
    default: DEFAULT_PYTHON,
    metavar: "path",
  },
  {
    key: "torch-reference",
    kind: "string",
    help: "folder holding bench_lora.py, loratune's PyTorch reference (shared/reference/ beside the repository)",
    defaultText: `$${TORCH_REFERENCE_ENV}; unset: no PyTorch comparison`,
    metavar: "dir",
  },
  { key: "json", kind: "bool", help: "print one JSON object, snake_case keys (progress still goes to stderr)" },
  { key: "quick", kind: "bool", help: "fast smoke run: tiny shape, batch 2×64, 2 timed runs", default: false },
  {
    key: "profile",
    kind: "bool",
    help: "time every kernel call (per training step, prefill run or decoded token) and list the slowest",
    default: false,
  },
  {
    key: "grad-checkpoint",
    kind: "bool",
    help: "train with activation checkpointing (less memory, one more forward of time)",
    default: false,
  },
  {
    key: "rank",
    kind: "int",
    help: "LoRA rank of the training workloads (alpha = 2 × rank)",
    defaultText: "8",
    min: 1,
  },
  {
    key: "memory-check",
    kind: "bool",
    negate: true,
    help: "run training workloads even when their memory estimate exceeds the memory available (refused by default)",
    default: true,
  },
  {
    key: "batch-size",
    kind: "int",
    help: "batch rows of training and prefill",
    defaultText: "4; with --quick: 2",
    min: 1,
  },
  {
    key: "seq-len",
    kind: "int",
    help: "sequence length of training and prefill",
    defaultText: "256; with --quick: 64",
    min: 2,
  },
];

/** The flags given (camelCase, as commander hands them over) with the rest at BENCH_OPTIONS' defaults. */
function withBenchDefaults(given: Partial<BenchFlags>): BenchFlags {
  const defaults = withDefaults(BENCH_OPTIONS, {});
  const out: Record<string, unknown> = {};
  for (const d of BENCH_OPTIONS) out[camelKey(d.key)] = defaults[d.key];
  for (const [k, v] of Object.entries(given)) if (v !== undefined) out[k] = v;
  return out as unknown as BenchFlags;
}

export function benchOptions(given: Partial<BenchFlags>, onProgress?: (line: string) => void): BenchOptions {
  const f = withBenchDefaults(given);
  const dtypes = parseDtypes(f.dtype);
  if (f.vsTorch && !f.torch) throw new LoratuneError("ERR_USAGE", "--vs-torch and --no-torch contradict each other");
  return {
    shapes: f.shapes ?? (f.quick ? ["tiny"] : [...DEFAULT_SHAPES]),
    workloads: f.workloads,
    dtypes,
    ...(f.steps !== undefined ? { steps: f.steps } : {}),
    ...(f.warmup !== undefined ? { warmup: f.warmup } : {}),
    ...(f.threads !== undefined ? { threads: f.threads } : {}),
    torch: f.vsTorch ? "on" : f.torch ? "auto" : "off",
    waitPolicy: f.sharedMachine ? "passive" : "default",
    ...(f.torchBf16 ? {} : { torchBf16: false }),
    llamaCpp: f.llamaCpp ? "auto" : "off",
    quick: f.quick,
    profile: f.profile,
    gradCheckpoint: f.gradCheckpoint,
    ...(f.memoryCheck ? {} : { memoryCheck: false }),
    ...(f.rank !== undefined ? { rank: f.rank } : {}),
    ...(f.batchSize !== undefined ? { batchSize: f.batchSize } : {}),
    ...(f.seqLen !== undefined ? { seqLen: f.seqLen } : {}),
    python: f.python,
    referenceDir: torchReferenceDir(f.torchReference),
    ...(onProgress ? { onProgress } : {}),
  };
}

export function registerBench(program: Command): void {
  const cmd = program
    .command("bench")
    .description(
      "measure training/prefill/decode throughput on model shapes with random weights (vs PyTorch and llama.cpp)",
    );
  addOptions(cmd, BENCH_OPTIONS);
  cmd.action(async (f: Partial<BenchFlags>) => {
    const options = benchOptions(f, (line) => process.stderr.write(`${line}\n`));
    const report = await runBench(options);
    if (f.json) console.log(JSON.stringify(snakeCaseKeys(report)));
    else console.log(formatReport(report));
    const failed = report.rows.filter((r) => r.error).length;
    if (failed > 0) throw new LoratuneError("ERR_IO", `${failed} of ${report.rows.length} bench workloads failed`);
  });
}
