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
import { writeBenchGguf } from "../../src/bench/llama-gguf.ts";
import { makeRandomModel } from "../../src/bench/random-model.ts";
import { runBench } from "../../src/bench/run.ts";
import { shapeConfig } from "../../src/bench/shapes.ts";
import { type GgufMetadata, strings } from "../../src/gguf/metadata.ts";
import { readGgufHeader } from "../../src/gguf/reader.ts";
import { writeGguf } from "../../src/gguf/writer.ts";
import { getKernels } from "../../src/kernels/index.ts";
import { llamaGreedy, loadLlamaCpp, ourGreedy } from "../helpers/llama-cpp.ts";

const dir = mkdtempSync(join(tmpdir(), "bench-gguf-"));
after(() => rmSync(dir, { recursive: true, force: true }));
const k = getKernels();

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

test("bench: a decode row gets llama.cpp's column where it loads, a printed reason otherwise", async () => {
  const report = await runBench({
    shapes: ["tiny"],
    workloads: ["decode"],
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
  const row = report.rows[0]!;
  if (typeof llama === "string") assert.ok(report.llamaCpp && "unavailable" in report.llamaCpp);
  else {
    assert.ok(row.llamaCpp && row.llamaCpp.tokensPerS > 0, row.llamaCppError);
    assert.equal(row.llamaCppRatio, row.ours!.tokensPerS / row.llamaCpp.tokensPerS);
  }
});
