/**
 * The bench's random model as GGUF for the llama.cpp column: the file's header (placeholder vocabulary, every
 * tensor), a GGUF header past the encoder's first 64 KiB buffer, and, where llama.cpp's prebuilt binary loads
 * (node-llama-cpp, a development dependency), llama.cpp's greedy continuation on the file equal to loratune's on
 * the same seeded model.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { type GgufFiles, llamaCppOutcome } from "../../src/bench/llama-column.ts";
import { loadLlamaCpp as loadLlamaCppIn } from "../../src/bench/llama-cpp.ts";
import { writeBenchGguf } from "../../src/bench/llama-gguf.ts";
import { makeRandomModel } from "../../src/bench/random-model.ts";
import { runBench, workloadSpec } from "../../src/bench/run.ts";
import { shapeConfig } from "../../src/bench/shapes.ts";
import { runLlamaWorker } from "../../src/bench/spawn.ts";
import { type GgufMetadata, strings } from "../../src/gguf/metadata.ts";
import { readGgufHeader } from "../../src/gguf/reader.ts";
import { writeGguf } from "../../src/gguf/writer.ts";
import { getKernels } from "../../src/kernels/index.ts";
import { llamaGreedy, loadLlamaCpp, ourGreedy } from "../helpers/llama-cpp.ts";

const dir = mkdtempSync(join(tmpdir(), "bench-gguf-"));
after(() => rmSync(dir, { recursive: true, force: true }));
const k = getKernels();
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

test("a GGUF header larger than the encoder's first buffer is written whole", () => {
  // 20000 strings of 8 bytes each take about 320 KiB: the buffer grows in the middle of a u64 write.
  const names = Array.from({ length: 20000 }, (_, i) => `s${String(i).padStart(7, "0")}`);
  const meta: GgufMetadata = new Map([["test.names", strings(names)]]);
  const path = join(dir, "big.gguf");
  writeGguf(path, meta, []);
  assert.deepEqual(readGgufHeader(path).metadata.get("test.names"), strings(names));
});

test("the bench model's GGUF: placeholder vocabulary with byte pieces, every tensor", () => {
  const path = join(dir, "tiny.gguf");
  writeBenchGguf(k, "tiny", "f32", 0, path);
  const file = readGgufHeader(path);
  const tokens = file.metadata.get("tokenizer.ggml.tokens")!.value as string[];
  assert.equal(tokens.length, 512);
  assert.deepEqual(tokens.slice(0, 4), ["<unk>", "<s>", "</s>", "<0x00>"]);
  assert.equal(tokens[3 + 10], "<0x0A>");
  // 9 tensors per layer (2 norms, 7 linears), the embedding and the final norm (the head is tied).
  assert.equal(file.tensors.length, 5 * 9 + 2);
});

const llama = await loadLlamaCpp();

test("llama.cpp continues the bench model's GGUF as loratune does", {
  skip: typeof llama === "string" ? llama : false,
}, async () => {
  if (typeof llama === "string") return;
  const path = join(dir, "tiny.gguf");
  writeBenchGguf(k, "tiny", "f32", 0, path);
  const model = await llama.loadModel({ modelPath: path });
  try {
    const prompt = [5, 17, 300, 42, 7];
    const theirs = await llamaGreedy(model, prompt, 6);
    const ours = ourGreedy(makeRandomModel(k, shapeConfig("tiny"), "f32", 0), prompt, 6);
    assert.deepEqual(theirs.ids, ours.ids);
  } finally {
    await model.dispose();
  }
});

test("bench: prefill and decode rows get llama.cpp's column where it loads, a printed reason otherwise", async () => {
  const report = await runBench({
    shapes: ["tiny"],
    workloads: ["prefill", "decode"],
    dtypes: ["f32"],
    steps: 1,
    warmup: 0,
    torch: "off",
    quick: true,
    profile: false,
    gradCheckpoint: false,
    python: "/nonexistent/python",
    referenceDir: undefined,
  });
  if (typeof llama === "string") {
    assert.ok(report.llamaCpp && "unavailable" in report.llamaCpp);
    return;
  }
  assert.deepEqual(
    report.rows.map((r) => r.workload),
    ["prefill", "decode"],
  );
  for (const row of report.rows) {
    const a = row.anchors.llamaCpp;
    assert.ok(a?.status === "measured", JSON.stringify(a));
    assert.ok(a.tokensPerS > 0 && a.gflops > 0);
    assert.equal(a.ratio, row.ours!.tokensPerS / a.tokensPerS);
  }
  const decode = report.rows[1]!.anchors.llamaCpp;
  assert.ok(decode?.status === "measured" && decode.bytesPerToken! > 0);
});

test("the llama.cpp column runs in its own process, not the bench's", {
  skip: typeof llama === "string" ? llama : false,
}, async () => {
  const path = join(dir, "tiny-child.gguf");
  writeBenchGguf(k, "tiny", "f32", 0, path);
  // Two prompts a run, a warm-up and two timed runs: the context's one sequence serves them all.
  const spec = { B: 2, T: 16, promptTokens: 4, genTokens: 4, steps: 2, warmup: 1 };
  const answer = await runLlamaWorker({
    kind: "llama-run",
    workload: "prefill",
    path,
    threads: 1,
    vocabSize: 512,
    ...spec,
  });
  assert.equal(answer.kind, "llama-run");
  if (answer.kind !== "llama-run") return;
  assert.notEqual(answer.pid, process.pid);
  assert.equal(answer.runMs.length, 2);
  assert.ok(answer.tokensPerS > 0 && answer.peakRssMiB > 0);
  const decode = await runLlamaWorker({
    kind: "llama-run",
    workload: "decode",
    path,
    threads: 1,
    vocabSize: 512,
    ...spec,
  });
  assert.ok(decode.kind === "llama-run" && decode.runMs.length === 2 && decode.tokensPerS > 0, JSON.stringify(decode));
});

test("llama.cpp's errors: a module that does not load says so; a file that does not load fails the cell", async () => {
  const missing = await loadLlamaCppIn(1, "node-llama-cpp-not-installed");
  assert.ok("unavailable" in missing);
  assert.match(missing.unavailable, /^node-llama-cpp-not-installed did not load: /);
  const spec = workloadSpec("tiny", "decode", { ...QUICK, steps: 1, warmup: 0 });
  // A GGUF path that is not there: the child fails, the cell says why (or, without llama.cpp, that it is not there).
  const fake = { get: async () => join(dir, "not-there.gguf") } as unknown as GgufFiles;
  const outcome = await llamaCppOutcome(spec, fake, 1, 100);
  assert.equal(outcome.status, "failed");
  if (outcome.status === "failed")
    assert.match(
      outcome.error,
      typeof llama === "string" ? /did not load/ : /llama\.cpp child process failed \(decode of .*not-there\.gguf\)/,
    );
});
