/**
 * Issue 16, the bench's anchors and limits: PyTorch f32 with its default OpenMP wait policy (PASSIVE only with
 * --shared-machine, and said so), PyTorch bf16 autocast as its own column, PyTorch's matmul rates in the limits,
 * llama.cpp's prefill and decode columns, each column's %limit, the real Qwen2.5-0.5B shape; and each anchor's
 * error paths (not there: the header says why; failing: the cell says "failed" and the reason is listed). No
 * Python is needed: a shell script stands in for it where PyTorch's failures are tested.
 */
import assert from "node:assert/strict";
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { type AnchorOutcome, anchorComputeDtype, llamaCell, torchCell } from "../../src/bench/anchors.ts";
import { decodeBytesPerToken, kvCacheBytes } from "../../src/bench/decode-bytes.ts";
import { decodeFlopsPerToken, matmulParams, promptFlopsPerToken } from "../../src/bench/flops.ts";
import { computeDtype, fractionOfLimit, runLimits } from "../../src/bench/limits.ts";
import { formatReport } from "../../src/bench/report.ts";
import { type BenchReport, type BenchRow, runBench, workloadSpec } from "../../src/bench/run.ts";
import { shapeConfig } from "../../src/bench/shapes.ts";
import type { PeakResult, WorkloadResult } from "../../src/bench/spec.ts";
import { torchArgs, torchEnv, torchRuns } from "../../src/bench/torch.ts";
import { bestTorchGemm, parseTorchGemm } from "../../src/bench/torch-gemm.ts";
import { benchOptions } from "../../src/cli/bench.ts";

const dir = mkdtempSync(join(tmpdir(), "bench-anchors-"));
after(() => rmSync(dir, { recursive: true, force: true }));

const QUICK = {
  shapes: ["tiny"],
  workloads: [],
  dtypes: ["f32" as const],
  torch: "off" as const,
  quick: true,
  profile: false,
  gradCheckpoint: false,
  python: "/nonexistent/python",
  referenceDir: undefined,
};

test("PyTorch's environment: OpenMP's default wait policy unless the machine is shared; glibc keeps memory", () => {
  const base = { OMP_WAIT_POLICY: "PASSIVE", HOME: "/h" };
  const quiet = torchEnv(base, "default");
  assert.equal(quiet.OMP_WAIT_POLICY, undefined);
  assert.equal(quiet.HOME, "/h");
  assert.equal(quiet.MALLOC_MMAP_MAX_, "0");
  assert.equal(quiet.MALLOC_TRIM_THRESHOLD_, "68719476736");
  assert.equal(torchEnv({}, "passive").OMP_WAIT_POLICY, "PASSIVE");
  const flags = { workloads: [], dtype: "f32", torch: true, python: "p" };
  assert.equal(benchOptions(flags).waitPolicy, "default");
  assert.equal(benchOptions({ ...flags, sharedMachine: true }).waitPolicy, "passive");
});

test("PyTorch bf16 autocast: --bf16 for training and prefill; decode runs f32 only", () => {
  const opts = { ...QUICK, quick: false };
  const train = workloadSpec("small", "train", opts);
  assert.ok(torchArgs(train, "/m", 2, "bf16").includes("--bf16"));
  assert.ok(!torchArgs(train, "/m", 2).includes("--bf16"));
  assert.ok(torchRuns("bf16", "train") && torchRuns("bf16", "prefill") && !torchRuns("bf16", "decode"));
  assert.ok(torchRuns("f32", "decode"));
});

test("PyTorch's matmul probe: best rate per dtype; a probe without one of them is an error naming it", () => {
  const line = (dtype: string, gflops: number) =>
    JSON.stringify({ dtype, M: 4, N: 4, K: 4, gflops, capability: "AVX2" });
  const r = parseTorchGemm(["noise", line("f32", 10), line("bf16", 30), line("f32", 12), line("bf16", 20)].join("\n"));
  assert.equal(r.f32Gflops, 12);
  assert.equal(r.bf16Gflops, 30);
  assert.equal(r.capability, "AVX2");
  assert.equal(r.entries.length, 4);
  assert.throws(() => parseTorchGemm(line("f32", 10)), /printed no bf16 rate/);
  assert.throws(() => parseTorchGemm(""), /printed no f32 rate/);
  const better = bestTorchGemm(r, { ...r, f32Gflops: 15, entries: r.entries.map((e) => ({ ...e, gflops: 11 })) });
  assert.ok("f32Gflops" in better);
  assert.equal(better.f32Gflops, 15);
  assert.equal(better.bf16Gflops, 30);
  assert.equal(better.entries[0]!.gflops, 11);
  assert.deepEqual(bestTorchGemm({ error: "x" }, r), r);
  assert.deepEqual(bestTorchGemm(r, { error: "x" }), r);
});

const PEAK: PeakResult = {
  kind: "peak",
  entries: [
    { variant: "matmulNT", M: 1, N: 1, K: 1, gflops: 100 },
    { variant: "matmulNTBf16", M: 1, N: 1, K: 1, gflops: 150 },
  ],
  peakGflops: 100,
  peakBf16Gflops: 150,
  bandwidth: { arrayMiB: 1, triadGBs: 55, copyGBs: 30, readGBs: 40 }, // decode is put against read, not triad
  kernels: { backend: "native", isa: "avx2", threads: 2, blocksOnBf16: false },
};

test("limits: per dtype the better of loratune's and PyTorch's product; %limit of the peak, decode of the bandwidth", () => {
  const gemm = { entries: [], f32Gflops: 80, bf16Gflops: 300, capability: "AVX512" };
  const limits = runLimits(PEAK, gemm);
  assert.deepEqual(limits.f32, { gflops: 100, by: "loratune" });
  assert.deepEqual(limits.bf16, { gflops: 300, by: "PyTorch" });
  assert.equal(limits.bandwidthGBs, 40);
  assert.equal(runLimits({ ...PEAK, peakBf16Gflops: null }, null).bf16, null);
  assert.equal(fractionOfLimit(limits, "train", "bf16", { gflops: 150, tokensPerS: 1 }), 0.5);
  assert.equal(fractionOfLimit(limits, "prefill", "f32", { gflops: 25, tokensPerS: 1 }), 0.25);
  // 2 MB per token × 5000 tokens/s = 10 GB/s of 40.
  assert.equal(fractionOfLimit(limits, "decode", "f32", { gflops: 1, tokensPerS: 5000, bytesPerToken: 2e6 }), 0.25);
  assert.equal(fractionOfLimit(limits, "decode", "f32", { gflops: 1, tokensPerS: 5000 }), null);
  assert.equal(
    fractionOfLimit(runLimits({ ...PEAK, peakBf16Gflops: null }, null), "train", "bf16", { gflops: 1, tokensPerS: 1 }),
    null,
  );
});

test("compute dtype: block formats count against the bf16 peak only where the kernels have a bf16 dot product", () => {
  assert.equal(runLimits(PEAK, null).blocksOnBf16, false);
  assert.equal(
    runLimits({ ...PEAK, kernels: { ...PEAK.kernels, isa: "avx512", blocksOnBf16: true } }, null).blocksOnBf16,
    true,
  );
  for (const on of [false, true]) {
    assert.equal(computeDtype("bf16", on), "bf16");
    assert.equal(computeDtype("f32", on), "f32");
    assert.equal(computeDtype("f16", on), "f32");
    for (const q of ["q8_0", "q4_k"] as const) assert.equal(computeDtype(q, on), on ? "bf16" : "f32");
  }
  // llama.cpp's block formats run its int8 dot products: the f32 peak stands in.
  assert.equal(anchorComputeDtype("llamaCpp", "q4_k"), "f32");
  assert.equal(anchorComputeDtype("llamaCpp", "bf16"), "bf16");
  assert.equal(anchorComputeDtype("torchBf16", "q8_0"), "bf16");
});

test("anchor cells: llama.cpp's prompt FLOPs count the head once per prompt; its decode reads an f16 KV cache", () => {
  const tiny = shapeConfig("tiny");
  // tiny: N = 259328 matmul weights, of which the head 512·64 = 32768; L = 5, d = 64.
  assert.equal(promptFlopsPerToken(tiny, 64), 2 * (259328 - 32768) + (2 * 32768) / 64 + 4 * 5 * 64 * 64);
  const opts = { ...QUICK, steps: 1, warmup: 0 };
  const prefill = workloadSpec("tiny", "prefill", opts);
  const run = { kind: "llama-run" as const, version: "v", pid: 1, runMs: [1], peakRssMiB: 50, otherProcsCores: 0 };
  const p = llamaCell({ ...run, tokensPerS: 1000 }, prefill, tiny, 2000);
  assert.equal(p.ratio, 2);
  assert.equal(p.gflops, (promptFlopsPerToken(tiny, prefill.T) * 1000) / 1e9);
  assert.equal(p.bytesPerToken, undefined);
  const decode = { ...workloadSpec("tiny", "decode", opts), dtype: "bf16" as const };
  const ctx = decode.promptTokens + decode.genTokens / 2;
  const d = llamaCell({ ...run, tokensPerS: 100 }, decode, tiny, null);
  assert.equal(d.ratio, null);
  assert.equal(d.bytesPerToken, decodeBytesPerToken(tiny, "bf16", ctx) - kvCacheBytes(tiny, ctx, 2));
  assert.equal(d.gflops, (decodeFlopsPerToken(tiny, ctx) * 100) / 1e9);
  const torch = {
    tokens_per_s: 50,
    step_ms: [2],
    peak_rss_mb: 300,
    achieved_gflops: 3,
    step_ms_median: 2,
    flops_per_token: 1,
    other_procs_cores: 0.5,
    torch_threads: 2,
    blas: [],
  };
  const t = torchCell(torch, decode, tiny, 100);
  assert.equal(t.ratio, 2);
  // PyTorch decodes the f32 model whatever the row's dtype.
  assert.equal(t.bytesPerToken, decodeBytesPerToken(tiny, "f32", ctx));
  assert.equal(t.otherProcsCores, 0.5);
});

/** A report of one row with the given anchors (figures made up; formatting only). */
function reportWith(row: Partial<BenchRow>, over: Partial<BenchReport> = {}): BenchReport {
  const ours = {
    kind: "train",
    tokensPerS: 300,
    runMsMedian: 10,
    gflops: 50,
    peakRssMiB: 120,
    otherProcsCores: 0,
    kernels: PEAK.kernels,
  } as unknown as WorkloadResult;
  return {
    peak: PEAK,
    torch: { version: "1.13", python: "/py", waitPolicy: "default", modes: ["f32", "bf16"] },
    limits: runLimits(PEAK, null),
    llamaCpp: { version: "b1" },
    settings: { dtypes: ["f32"], quick: true, threads: 2, B: 2, T: 64, rank: 8, gradCheckpoint: false },
    rows: [{ shape: "tiny", workload: "train", dtype: "f32", ours, anchors: {}, ...row }],
    totalS: 1,
    ...over,
  };
}

const cell = (tokensPerS: number, ratio: number, gflops: number): AnchorOutcome => ({
  status: "measured",
  tokensPerS,
  runMs: [1],
  gflops,
  peakRssMiB: 400,
  otherProcsCores: 0.25,
  ratio,
});

test("report: a column per anchor with tokens/s, ratio and %limit; n/a where it does not run; the fastest modes", () => {
  const text = formatReport(reportWith({ anchors: { torchF32: cell(200, 1.5, 20), torchBf16: cell(250, 1.2, 75) } }));
  // loratune 50 of 100 GFLOP/s; PyTorch f32 20 of 100; bf16 autocast 75 of the bf16 limit 150; llama.cpp n/a.
  assert.match(
    text,
    /tiny\s+train q,k,v,o\s+300\.0\s+50\.0% │\s+200\.0\s+1\.50×\s+20\.0% │\s+250\.0\s+1\.20×\s+50\.0% │\s+n\/a/,
  );
  assert.match(text, /PyTorch f32 \(default wait\)/);
  assert.match(text, /OpenMP wait policy its default \(OMP_WAIT_POLICY unset\)/);
  assert.match(text, /tiny train q,k,v,o: loratune f32 300\.0 tokens\/s = 1\.20× PyTorch bf16 autocast \(250\.0\)/);
  // The detail table: every side's peak RSS and contention.
  assert.match(
    text,
    /tiny\s+train q,k,v,o\s+10\.0\s+50\.0 │\s+120\s+400\s+400\s+n\/a │\s+0\.00\s+0\.25\s+0\.25\s+n\/a/,
  );
  assert.match(text, /note: other processes used the CPU during 1 of 1 rows \(up to 0\.25 cores\)/);
  // PyTorch's products in the limits: its bf16 rate is the bf16 limit when it is the faster.
  const gemm = {
    entries: [
      { dtype: "f32" as const, M: 4, N: 4, K: 4, gflops: 80 },
      { dtype: "bf16" as const, M: 4, N: 4, K: 4, gflops: 300 },
    ],
    f32Gflops: 80,
    bf16Gflops: 300,
    capability: "AVX512",
  };
  const limitsText = formatReport(reportWith({}, { torchGemm: gemm, limits: runLimits(PEAK, gemm) }));
  assert.match(
    limitsText,
    /matmul f32: 100\.0 GFLOP\/s \(loratune\) \[loratune 1×1×1: 100\.0; PyTorch linear 4×4×4: 80\.0\]/,
  );
  assert.match(
    limitsText,
    /matmul bf16: 300\.0 GFLOP\/s \(PyTorch\) \[loratune bf16 weights 1×1×1: 150\.0; PyTorch linear 4×4×4: 300\.0 \(CPU capability AVX512/,
  );
  assert.match(limitsText, /memory bandwidth: 40\.0 GB\/s read .*55\.0 GB\/s triad/);
  const passive = formatReport(
    reportWith({}, { torch: { version: "1.13", python: "/py", waitPolicy: "passive", modes: ["f32", "bf16"] } }),
  );
  assert.match(passive, /PyTorch f32 \(PASSIVE wait\)/);
  assert.match(passive, /OpenMP wait policy PASSIVE \(--shared-machine/);
});

test("report: llama.cpp's prefill and decode cells, decode against the bandwidth", () => {
  const row = {
    workload: "decode" as const,
    ours: { ...reportWith({}).rows[0]!.ours!, kind: "decode" as const, tokensPerS: 5000, bytesPerToken: 2e6 },
    anchors: { llamaCpp: { ...cell(2500, 2, 1), bytesPerToken: 2e6 } as AnchorOutcome },
  };
  const text = formatReport(reportWith(row));
  // loratune 10 GB/s of 40; llama.cpp 5 GB/s of 40.
  assert.match(text, /tiny\s+decode\s+5000\.0\s+25\.0% │.*│\s+2500\.0\s+2\.00×\s+12\.5%/);
  assert.match(text, /llama\.cpp \(node-llama-cpp's prebuilt CPU binary, release b1\) in its own process/);
  assert.match(text, /tiny decode: loratune f32 5000\.0 tokens\/s = 2\.00× llama\.cpp f32 \(2500\.0\)/);
  // Its cell was measured with 0.25 cores busy elsewhere: not yet the warning; above that, the warning.
  assert.doesNotMatch(text, /llama\.cpp ran while other processes were busy/);
  const busyRow = { ...row, anchors: { llamaCpp: { ...cell(2500, 2, 1), otherProcsCores: 0.9 } as AnchorOutcome } };
  assert.match(formatReport(reportWith(busyRow)), /llama\.cpp ran while other processes were busy in 1 of 1 rows/);
});

test("report: an anchor not there says why in the header and '-' in its cells; a failed one says 'failed' and why", () => {
  const missing = formatReport(
    reportWith({}, { torch: { unavailable: "no torch here" }, llamaCpp: { unavailable: "no llama here" } }),
  );
  assert.match(missing, /PyTorch: not compared \(no torch here\)/);
  assert.match(missing, /llama\.cpp: not compared \(no llama here\)/);
  assert.match(missing, /tiny\s+train q,k,v,o\s+300\.0\s+50\.0% │\s+-\s+│\s+-\s+│\s+-/);
  const failed = formatReport(
    reportWith({
      workload: "prefill",
      anchors: {
        torchF32: { status: "failed", error: "bench_lora.py said no" },
        llamaCpp: { status: "failed", error: "child died" },
      },
    }),
  );
  assert.match(failed, /tiny\s+prefill\s+300\.0\s+50\.0% │\s+failed\s+│\s+n\/a\s+│\s+failed/);
  assert.match(failed, /error: PyTorch f32 tiny prefill: bench_lora\.py said no/);
  assert.match(failed, /error: llama\.cpp tiny prefill: child died/);
  // --no-torch-bf16: PyTorch's f32 column only, and the header says why the bf16 one is empty.
  assert.equal(
    benchOptions({ workloads: [], dtype: "f32", torch: true, python: "p", torchBf16: false }).torchBf16,
    false,
  );
  const f32Only = formatReport(
    reportWith(
      { anchors: { torchF32: cell(200, 1.5, 20) } },
      { torch: { version: "1.13", python: "/py", waitPolicy: "default", modes: ["f32"] } },
    ),
  );
  assert.match(f32Only, /f32 \(bf16 autocast not compared: --no-torch-bf16\)/);
  assert.match(f32Only, /1\.50×\s+20\.0% │\s+-\s+│\s+n\/a/);
  const probeFailed = formatReport(reportWith({}, { torchGemm: { error: "probe broke" } }));
  assert.match(probeFailed, /PyTorch's matmul probe failed: probe broke/);
});

test("bench without Python: PyTorch that fails says so in its columns, its matmul probe in the limits", async () => {
  // A stand-in for python: it "imports torch" (prints a version) and fails everything else with a message.
  const python = join(dir, "fake-python");
  writeFileSync(
    python,
    '#!/bin/sh\ncase "$2" in *"print(torch.__version__)"*) echo 0.0-fake; exit 0;; esac\necho "no torch in this test" >&2\nexit 3\n',
  );
  chmodSync(python, 0o755);
  const reference = join(dir, "reference");
  mkdirSync(reference, { recursive: true });
  writeFileSync(join(reference, "bench_lora.py"), "# never run: the stand-in python fails first\n");
  const report = await runBench({
    ...QUICK,
    workloads: ["prefill"],
    steps: 1,
    warmup: 0,
    torch: "auto",
    llamaCpp: "off",
    python,
    referenceDir: reference,
  });
  assert.deepEqual(report.torch, { version: "0.0-fake", python, waitPolicy: "default", modes: ["f32", "bf16"] });
  assert.ok(report.torchGemm && "error" in report.torchGemm);
  assert.match(report.torchGemm.error, /PyTorch's matmul probe failed \(exit 3\): no torch in this test/);
  const row = report.rows[0]!;
  assert.ok(row.ours && row.ours.tokensPerS > 0);
  for (const name of ["torchF32", "torchBf16"] as const) {
    const a = row.anchors[name];
    assert.ok(a?.status === "failed", name);
    assert.match(a.error, /bench_lora\.py failed for tiny prefill.*\(exit 3\): no torch in this test/);
  }
  assert.match((row.anchors.torchBf16 as { error: string }).error, /--bf16/);
  // The limits fall back to loratune's own products.
  assert.equal(report.limits.f32.by, "loratune");
  assert.equal(report.llamaCpp, null);
});

test("the Qwen2.5-0.5B shape: its config.json's values, q/k/v biases, tied head", () => {
  const c = shapeConfig("qwen2.5-0.5b");
  assert.equal(c.modelType, "qwen2");
  assert.deepEqual(
    [c.hiddenSize, c.numLayers, c.numHeads, c.numKvHeads, c.headDim, c.intermediateSize, c.vocabSize],
    [896, 24, 14, 2, 64, 4864, 151936],
  );
  assert.equal(c.tieWordEmbeddings, true);
  assert.equal(c.normEps, 1e-6);
  // Llama-style neutral values for the fields Gemma's families set (norm 1 + w, embedding scale, GeGLU).
  assert.deepEqual(c.arch, {
    ropeTheta: 1e6,
    ropeScaling: null,
    qkvBias: true,
    qkNorm: false,
    normOffset: 0,
    embedScale: 1,
    mlpAct: "silu",
  });
  // 24 · (896·896·2 + 128·896·2 + 3·896·4864) + 151936·896 matmul weights: Qwen2.5-0.5B's 494 M.
  assert.equal(matmulParams(c), 24 * (896 * 896 * 2 + 128 * 896 * 2 + 3 * 896 * 4864) + 151936 * 896);
  assert.equal(matmulParams(c), 493961216);
});

test("the Gemma-3-1B shape: its config.json's values, 5 sliding layers to each global one, tied head", () => {
  const c = shapeConfig("gemma-3-1b");
  assert.equal(c.modelType, "gemma3_text");
  assert.deepEqual(
    [c.hiddenSize, c.numLayers, c.numHeads, c.numKvHeads, c.headDim, c.intermediateSize, c.vocabSize],
    [1152, 26, 4, 1, 256, 6912, 262144],
  );
  assert.equal(c.tieWordEmbeddings, true);
  const sliding = (c.arch as { slidingLayers: boolean[] }).slidingLayers;
  assert.deepEqual(
    sliding.map((s, i) => (s ? -1 : i)).filter((i) => i >= 0),
    [5, 11, 17, 23],
  );
  // 26 · (1152·1024·2 + 1152·256·2 + 3·1152·6912) + 262144·1152 matmul weights: Gemma-3-1B's ~1.0 B.
  assert.equal(matmulParams(c), 26 * (1152 * 1024 * 2 + 1152 * 256 * 2 + 3 * 1152 * 6912) + 262144 * 1152);
});
