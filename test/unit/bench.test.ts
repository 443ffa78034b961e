/**
 * The bench harness: FLOP formulas against hand-counted shapes, each workload run in-process on the tiny shape
 * (sanity of tokens/s, loss, phases, memory estimate, kernel profile), the random model directory written for
 * PyTorch read back by loratune's loader, bench_lora.py arguments, the text report, and one `bench --quick --json`
 * through the CLI (child processes, no PyTorch).
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { decodeBytesPerToken } from "../../src/bench/decode-bytes.ts";
import {
  decodeFlopsPerToken,
  loraParamCount,
  matmulParams,
  prefillFlopsPerToken,
  trainFlopsPerToken,
} from "../../src/bench/flops.ts";
import { runLimits } from "../../src/bench/limits.ts";
import { formatReport } from "../../src/bench/report.ts";
import type { BenchReport } from "../../src/bench/run.ts";
import { workloadSpec } from "../../src/bench/run.ts";
import { runSpec } from "../../src/bench/run-spec.ts";
import { parseShapeList, shapeConfig } from "../../src/bench/shapes.ts";
import type { PeakResult, WorkloadResult } from "../../src/bench/spec.ts";
import { torchArgs } from "../../src/bench/torch.ts";
import { benchOptions } from "../../src/cli/bench.ts";
import { getKernels } from "../../src/kernels/index.ts";
import { loadModel } from "../../src/model/load.ts";

const ROOT = join(import.meta.dirname, "..", "..");
const k = getKernels();

const quickOptions = {
  shapes: ["tiny"],
  workloads: [],
  dtypes: ["f32" as const],
  torch: "off" as const,
  quick: true,
  profile: false,
  gradCheckpoint: false,
  python: "/nonexistent/python",
  referenceDir: "/nonexistent",
};

test("FLOP counts: tiny and smollm135 against hand counts", () => {
  const tiny = shapeConfig("tiny");
  // per layer: q 64·64 + k 64·32 + v 64·32 + o 64·64 + 3·64·172 = 45312; ×5 layers + head 512·64
  assert.equal(matmulParams(tiny), 5 * 45312 + 512 * 64);
  // LoRA r=8 on q,k,v,o: 8·(64+64) + 8·(64+32)·2 + 8·(64+64) = 3584 per layer
  assert.equal(loraParamCount(tiny, "qkvo", 8), 5 * 3584);
  assert.equal(loraParamCount(tiny, "all-linear", 8), 5 * (3584 + 2 * 8 * (64 + 172) + 8 * (172 + 64)));
  // train = 4N + 12·L·T·d + 6·N_lora at T = 256, d = 64
  assert.equal(trainFlopsPerToken(tiny, 256, 17920), 4 * 259328 + 12 * 5 * 256 * 64 + 6 * 17920);
  assert.equal(trainFlopsPerToken(tiny, 256, 17920), 2127872);
  assert.equal(prefillFlopsPerToken(tiny, 256), 2 * 259328 + 4 * 5 * 256 * 64);
  assert.equal(decodeFlopsPerToken(tiny, 48), 2 * 259328 + 4 * 5 * 48 * 64);
  // SmolLM2-135M: 30·(576·64·(2·9 + 2·3) + 3·576·1536) + 49152·576 matmul parameters
  assert.equal(matmulParams(shapeConfig("smollm135")), 134479872);
});

test("shape names: known ones parse, unknown ones are usage errors", () => {
  assert.deepEqual(parseShapeList("tiny, smollm135"), ["tiny", "smollm135"]);
  assert.throws(
    () => parseShapeList("tiny,huge"),
    (e: Error & { code?: string }) => e.code === "ERR_USAGE",
  );
  const small = shapeConfig("small");
  assert.equal(small.numKvHeads, 6);
  assert.equal(small.vocabSize, 32000);
  assert.equal(shapeConfig("smollm135").numKvHeads, 3);
});

/** A peak probe's result fixed at 100 GFLOP/s f32 (no bf16, no bandwidth), for the report tests. */
function fixedPeak(kernels: WorkloadResult["kernels"]) {
  return {
    kind: "peak" as const,
    entries: [{ variant: "matmulNT" as const, M: 1, N: 1, K: 1, gflops: 100 }],
    peakGflops: 100,
    peakBf16Gflops: null,
    kernels,
  };
}

const trainSpec = { ...workloadSpec("tiny", "train", quickOptions), profile: true };
let trainResult: WorkloadResult | undefined;
/** One in-process quick training run of the tiny shape, shared by the tests that need a result. */
function tinyTrain(): WorkloadResult {
  trainResult ??= runSpec(k, trainSpec) as WorkloadResult;
  return trainResult;
}

test("train workload in-process (tiny, quick): tokens/s, loss ≈ ln V, phases, estimate, profile", () => {
  const spec = trainSpec;
  const r = tinyTrain();
  assert.equal(r.kind, "train");
  assert.equal(r.runMs.length, spec.steps);
  assert.equal(r.tokensPerRun, spec.B * spec.T);
  assert.ok(r.tokensPerS > 0 && Number.isFinite(r.tokensPerS));
  assert.ok(Math.abs(r.tokensPerS - (r.tokensPerRun * 1000) / r.runMsMedian) < 1e-6 * r.tokensPerS);
  // random weights with std 0.02: the logits are near zero, so the loss is near ln(512)
  assert.ok(Math.abs(r.loss! - Math.log(512)) < 0.05, `loss ${r.loss}`);
  assert.equal(r.trainableParams, 17920);
  assert.equal(r.flopsPerToken, trainFlopsPerToken(shapeConfig("tiny"), spec.T, 17920));
  const p = r.phasesMs!;
  assert.ok(p.forward > 0 && p.backward > 0 && p.optimizer >= 0);
  assert.ok(r.estimatedPeakMiB! > 60 && r.peakRssMiB > 0);
  const prof = r.profile!;
  assert.ok(prof.some((e) => e.key.startsWith("matmulNT ") && e.flops > 0));
  assert.ok(prof.some((e) => e.key === "attentionBackward"));
  assert.ok(prof.some((e) => e.key === "adamw"));
  // per-step kernel time cannot exceed the step time by much (the timed steps include it)
  const kernelMs = prof.reduce((n, e) => n + e.ms, 0);
  assert.ok(kernelMs <= Math.max(...r.runMs) * 1.05, `${kernelMs} ms in kernels`);
});

test("train workload with activation checkpointing: same loss, smaller estimate, a recomputed forward", () => {
  const spec = { ...workloadSpec("tiny", "train", { ...quickOptions, gradCheckpoint: true }), profile: true };
  assert.equal(spec.gradCheckpoint, true);
  assert.equal(workloadSpec("tiny", "decode", { ...quickOptions, gradCheckpoint: true }).gradCheckpoint, false);
  const r = runSpec(k, spec) as WorkloadResult;
  const plain = tinyTrain();
  assert.equal(r.loss, plain.loss);
  assert.ok(r.estimatedPeakMiB! < plain.estimatedPeakMiB!, `${r.estimatedPeakMiB} < ${plain.estimatedPeakMiB}`);
  const calls = (res: WorkloadResult, key: string) => res.profile!.find((e) => e.key === key)?.calls ?? 0;
  // Every layer but the last runs its attention forward twice.
  const layers = shapeConfig("tiny").numLayers;
  assert.equal(calls(r, "attentionForward"), (calls(plain, "attentionForward") * (2 * layers - 1)) / layers);
});

test("prefill and decode workloads in-process (tiny, quick)", () => {
  const pre = runSpec(k, workloadSpec("tiny", "prefill", quickOptions)) as WorkloadResult;
  assert.equal(pre.kind, "prefill");
  assert.ok(pre.tokensPerS > 0 && pre.gflops > 0);
  assert.equal(pre.targets, null);
  const dec = runSpec(k, workloadSpec("tiny", "decode", quickOptions)) as WorkloadResult;
  assert.equal(dec.kind, "decode");
  assert.equal(dec.tokensPerRun, 8);
  assert.ok(dec.tokensPerS > 0);
  assert.equal(dec.flopsPerToken, decodeFlopsPerToken(shapeConfig("tiny"), 8 + 4));
  assert.equal(dec.bytesPerToken, decodeBytesPerToken(shapeConfig("tiny"), "f32", 8 + 4));
  assert.ok(dec.weightsReadGBs! > 0, "a read pass over the weights after the timed runs");
});

test("prefill and decode workloads with --profile: kernel calls per run and per generated token", () => {
  const layers = shapeConfig("tiny").numLayers;
  const pre = runSpec(k, { ...workloadSpec("tiny", "prefill", quickOptions), profile: true }) as WorkloadResult;
  const calls = (r: WorkloadResult, key: string) => r.profile!.find((e) => e.key === key)?.calls ?? 0;
  assert.equal(calls(pre, "attentionForward"), layers, "one attention forward per layer per run");
  assert.ok(pre.profile!.reduce((n, e) => n + e.ms, 0) <= Math.max(...pre.runMs) * 1.05);
  const dec = runSpec(k, { ...workloadSpec("tiny", "decode", quickOptions), profile: true }) as WorkloadResult;
  // Per generated token: one cached attention per layer and one head product, the prompt's calls not counted.
  assert.equal(calls(dec, "attentionKV"), layers);
  const head = dec.profile!.filter((e) => e.key.startsWith("matmulWNT[f32] 1×512×"));
  assert.equal(head.length, 1, dec.profile!.map((e) => e.key).join(", "));
  assert.equal(head[0]!.calls, 1);
  assert.ok(!dec.profile!.some((e) => /^matmulWNT\S* [2-9]\d*×/.test(e.key)), "no multi-row (prompt) product counted");
  const peak = fixedPeak(dec.kernels);
  const text = formatReport({
    peak,
    torch: null,
    limits: runLimits(peak, null),
    llamaCpp: null,
    settings: { dtypes: ["f32"], quick: true, threads: 2, B: 2, T: 64, rank: 8, gradCheckpoint: false },
    rows: [{ shape: "tiny", workload: "decode", dtype: "f32", ours: dec, anchors: {} }],
    totalS: 1,
  });
  assert.match(text, /kernel time per token, tiny decode \([\d.]+ ms in kernels of [\d.]+ ms median wall time\):/);
});

test("decode bytes per token: tiny against a hand count, per held format", () => {
  const tiny = shapeConfig("tiny");
  // Linears per layer: q 64·64 + k 64·32 + v 64·32 + o 64·64 + gate, up 64·172 each + down 172·64 = 45312 values,
  // ×5 layers; the tied embedding 512·64 read whole as the head; norms 2·64 per layer + the final 64, f32.
  // KV cache at ctx 10: 2 · 5 layers · 10 · (4 kv heads · 8) · 4 bytes = 12800.
  const kv = 12800;
  const norms = (5 * 128 + 64) * 4;
  assert.equal(decodeBytesPerToken(tiny, "f32", 10), (5 * 45312 + 512 * 64 + 5 * 128 + 64) * 4 + kv);
  assert.equal(decodeBytesPerToken(tiny, "bf16", 10), (5 * 45312 + 512 * 64) * 2 + norms + kv);
  // q8_0: 34 bytes per 32 values for the linears with rows of whole blocks and for the tied embedding (a head is
  // q8_0 under q8_0); down_proj (rows of 172) stays bf16.
  const q8PerLayer = ((45312 - 172 * 64) / 32) * 34 + 172 * 64 * 2;
  assert.equal(decodeBytesPerToken(tiny, "q8_0", 10), 5 * q8PerLayer + ((512 * 64) / 32) * 34 + norms + kv);
  // An untied embedding is one row per token; the separate head is read whole.
  const untied = { ...tiny, tieWordEmbeddings: false };
  assert.equal(decodeBytesPerToken(untied, "f32", 10), decodeBytesPerToken(tiny, "f32", 10) + 64 * 4);
});

test("memory bandwidth probe: positive GB/s for triad, copy and read", () => {
  const r = runSpec(k, { kind: "peak", dtype: "f32", sizes: [[8, 8, 8]], reps: 1, bandwidthMiB: 4 }) as PeakResult;
  assert.equal(r.bandwidth?.arrayMiB, 4);
  assert.ok(r.bandwidth!.triadGBs > 0 && r.bandwidth!.copyGBs > 0 && r.bandwidth!.readGBs > 0);
});

test("matmul peak: positive GFLOP/s per shape, bf16 entries when asked", () => {
  const r = runSpec(k, { kind: "peak", dtype: "bf16", sizes: [[32, 48, 40]], reps: 1 }) as PeakResult;
  assert.deepEqual(
    r.entries.map((e) => e.variant),
    ["matmulNT", "matmulNTBf16"],
  );
  assert.ok(r.entries.every((e) => e.gflops > 0));
  assert.equal(r.peakGflops, r.entries[0]!.gflops);
  assert.equal(r.peakBf16Gflops, r.entries[1]!.gflops);
  const f32 = runSpec(k, { kind: "peak", dtype: "f32", sizes: [[32, 48, 40]], reps: 1 }) as PeakResult;
  assert.equal(f32.peakBf16Gflops, null);
});

test("the random model directory for PyTorch loads back with the shape's config", () => {
  const dir = mkdtempSync(join(tmpdir(), "bench-model-"));
  try {
    runSpec(k, { kind: "write-model", shape: "tiny", dir: join(dir, "tiny"), seed: 3 });
    const model = loadModel(join(dir, "tiny"));
    assert.deepEqual(model.config, shapeConfig("tiny"));
    assert.equal(model.lmHead, model.embed);
    const w = model.linears[0]!.weight.data as Float32Array; // layer 0 q_proj
    let sq = 0;
    for (const x of w) sq += x * x;
    const std = Math.sqrt(sq / w.length);
    assert.ok(Math.abs(std - 0.02) < 0.002, `weight std ${std}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("bench_lora.py arguments follow the workload", () => {
  const opts = { ...quickOptions, quick: false, steps: 3, warmup: 1 };
  const train = torchArgs(workloadSpec("small", "train-all", opts), "/m", 2);
  assert.deepEqual(train.slice(0, 5), ["/m", "--B", "4", "--T", "256"]);
  assert.ok(train.includes("--all-linear"));
  assert.equal(train[train.indexOf("--steps") + 1], "3");
  assert.equal(train[train.indexOf("--threads") + 1], "2");
  assert.ok(!torchArgs(workloadSpec("small", "train", opts), "/m", 2).includes("--all-linear"));
  const dec = torchArgs(workloadSpec("small", "decode", opts), "/m", 2);
  assert.ok(dec.includes("--generate"));
  assert.equal(dec[dec.indexOf("--B") + 1], "1");
  assert.equal(dec[dec.indexOf("--gen-tokens") + 1], "64");
  assert.ok(torchArgs(workloadSpec("small", "prefill", opts), "/m", 2).includes("--inference"));
});

test("text report: tables, ratios, %limit and the 20% memory verdict", () => {
  const ours = tinyTrain();
  const torchF32 = {
    status: "measured" as const,
    tokensPerS: 200,
    runMs: [1],
    gflops: 1,
    peakRssMiB: 400,
    otherProcsCores: 0,
    ratio: 1.5,
  };
  const peak = fixedPeak(ours.kernels);
  const report: BenchReport = {
    peak,
    torch: { version: "x", python: "/p", waitPolicy: "default", modes: ["f32", "bf16"] },
    limits: runLimits(peak, null),
    llamaCpp: null,
    settings: { dtypes: ["f32"], quick: true, threads: 2, B: 2, T: 64, rank: 8, gradCheckpoint: false },
    rows: [
      {
        shape: "tiny",
        workload: "train",
        dtype: "f32",
        ours: { ...ours, tokensPerS: 300, gflops: 30, peakRssMiB: 130, estimatedPeakMiB: 100 },
        anchors: { torchF32 },
      },
    ],
    totalS: 1,
  };
  const text = formatReport(report);
  assert.match(text, /tiny\s+train q,k,v,o\s+300\.0\s+30\.0% │\s+200\.0\s+1\.50×\s+1\.0%/);
  // PyTorch ran, so its bf16 column reads n/a where it did not run this row; llama.cpp was not asked for: "-".
  assert.match(text, /1\.50×\s+1\.0% │\s+n\/a\s+│\s+-/);
  // A bf16 row is labelled and reported against the bf16 limit; its ratio is against each anchor's figure.
  const bf16Row = { ...report.rows[0]!, dtype: "bf16" as const, ours: { ...ours, tokensPerS: 400, gflops: 50 } };
  const bothPeak = { ...peak, peakBf16Gflops: 200 };
  const both: BenchReport = {
    ...report,
    peak: bothPeak,
    limits: runLimits(bothPeak, null),
    settings: { ...report.settings, dtypes: ["f32", "bf16"] },
    rows: [...report.rows, bf16Row],
  };
  const bothText = formatReport(both);
  assert.match(bothText, /f32 and bf16 base weights/);
  assert.match(bothText, /matmul f32: 100\.0 GFLOP\/s \(loratune\)/);
  assert.match(bothText, /matmul bf16: 200\.0 GFLOP\/s \(loratune\)/);
  assert.match(bothText, /tiny\s+train q,k,v,o bf16\s+400\.0\s+25\.0%/);
  // Decode rows against the read bandwidth: 2 MB/token × 5000 tokens/s = 10 GB/s of 40 (not the 60 of triad).
  const decodeRow = {
    ...report.rows[0]!,
    workload: "decode" as const,
    ours: { ...ours, kind: "decode" as const, tokensPerS: 5000, bytesPerToken: 2e6 },
    anchors: {},
  };
  const bwPeak = { ...peak, bandwidth: { arrayMiB: 256, triadGBs: 60, copyGBs: 30, readGBs: 40 } };
  const bwText = formatReport({ ...report, peak: bwPeak, limits: runLimits(bwPeak, null), rows: [decodeRow] });
  assert.match(bwText, /memory bandwidth: 40\.0 GB\/s read .*60\.0 GB\/s triad .*30\.0 GB\/s copy \(256 MiB/);
  assert.match(bwText, /tiny decode: 2\.0 MB\/token × 5000\.0 tokens\/s = 10\.0 GB\/s, 25\.0% of bandwidth/);
  assert.match(bwText, /tiny\s+decode\s+5000\.0\s+25\.0% │/);
  assert.doesNotMatch(bwText, /read rate between runs/, "no weights' read rate measured: none reported");
  // With the read rate of its own weights between its runs (the memory as it was then): 10 of 12.5 GB/s.
  const nearRow = { ...decodeRow, ours: { ...decodeRow.ours, weightsReadGBs: 12.5 } };
  const nearText = formatReport({ ...report, peak: bwPeak, limits: runLimits(bwPeak, null), rows: [nearRow] });
  assert.match(nearText, /25\.0% of bandwidth; 80\.0% of its weights' read rate between runs \(12\.5 GB\/s\)/);
  assert.match(text, /measured \+30\.0%: OFF by more than 20%/);
  report.rows[0]!.ours!.peakRssMiB = 110;
  assert.match(formatReport(report), /measured \+10\.0%: within 20%/);
});

test("CLI: bench --quick --json runs workers and prints one JSON report", () => {
  const args = ["bench", "--quick", "--json", "--no-torch", "--workloads", "train", "--steps", "1", "--warmup", "0"];
  const r = spawnSync(process.execPath, [join(ROOT, "bin", "loratune.js"), ...args], { encoding: "utf8" });
  assert.equal(r.status, 0, r.stderr);
  // --json keys are snake_case (tokensPerS -> tokens_per_s, peakRssMiB -> peak_rss_mib).
  assert.doesNotMatch(r.stdout, /"[a-z0-9_]*[A-Z][A-Za-z0-9_]*":/, "no camelCase key");
  type Row = {
    shape: string;
    workload: string;
    ours: { tokens_per_s: number; peak_rss_mib: number; run_ms: number[] };
  };
  const report = JSON.parse(r.stdout) as { torch: unknown; rows: Row[]; peak: { peak_gflops: number } };
  assert.equal(report.torch, null);
  assert.deepEqual(
    report.rows.map((row) => [row.shape, row.workload]),
    [["tiny", "train"]],
  );
  for (const row of report.rows) {
    assert.ok(row.ours && row.ours.tokens_per_s > 0 && row.ours.peak_rss_mib > 20, JSON.stringify(row));
    assert.equal(row.ours.run_ms.length, 1);
  }
  assert.ok(report.peak.peak_gflops > 0);
  assert.match(r.stderr, /tiny train: \d+ tokens\/s/);
});

test("bad options are usage errors", () => {
  const flags = { workloads: [], dtype: "f32", torch: true, python: "p", torchReference: "r" };
  const usage = (e: Error & { code?: string }) => e.code === "ERR_USAGE";
  assert.throws(() => benchOptions({ ...flags, dtype: "q4_0" }), usage); // a format, but not one bench runs
  assert.throws(() => benchOptions({ ...flags, dtype: "f32,f32" }), usage);
  assert.throws(() => benchOptions({ ...flags, dtype: "f32,fp8" }), usage);
  assert.deepEqual(benchOptions({ ...flags, dtype: "f32,bf16" }).dtypes, ["f32", "bf16"]);
  assert.deepEqual(benchOptions({ ...flags, dtype: "bf16" }).dtypes, ["bf16"]);
  assert.throws(() => benchOptions({ ...flags, vsTorch: true, torch: false }), usage);
  const o = benchOptions({ ...flags, quick: true, vsTorch: true });
  assert.deepEqual(o.shapes, ["tiny"]);
  assert.equal(o.torch, "on");
  assert.deepEqual(benchOptions(flags).shapes, ["tiny", "small", "smollm135"]);
});
