/**
 * GGUF files as base models, proved against the Hugging Face directories they were exported from. For each golden
 * model (llama with GQA, Llama 3 RoPE scaling with permuted q/k rows, qwen2 with biases, qwen3 with q/k norms) and
 * the demo model, exported as f32, f16, bf16, q8_0 and q4_k and loaded back with `--model x.gguf`:
 *  - f32: the logits at every position are bit-identical to the directory's model; f16/bf16: to the directory's
 *    model loaded with the same --dtype;
 *  - q8_0/q4_k: the linear weights `--quantize` quantizes have the same bytes in both (one quantizer), and the
 *    logits are bit-identical once the directory model's other 2-D tensors are held as the export writes them, from
 *    the directory's values (the export writes the embedding and the head in the output type, where `--quantize`
 *    follows llama.cpp's Q4_K_M and makes the tied head q6_k; rows that are not whole blocks fall back to f16 in the
 *    export and stay f32 under --quantize);
 *  - GGUF → loratune → GGUF: re-exporting the loaded file writes every tensor and the tokenizer metadata unchanged.
 * Then the commands: an adapter trained on a GGUF base is a PEFT adapter for the Hugging Face model (same logits);
 * `loratune train` on the demo model's q4_k GGUF through the CLI, resumed, evaluated and merged into a Hugging Face
 * directory; --out never holds or replaces the .gguf input.
 */
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { exportModel } from "../../src/api/export.ts";
import { train } from "../../src/api/train.ts";
import { readGgufHeader, readGgufTensorBytes } from "../../src/gguf/reader.ts";
import { getKernels } from "../../src/kernels/index.ts";
import { loadAdapter } from "../../src/lora/peft-files.ts";
import { createSession, feedTokens } from "../../src/model/infer.ts";
import { DEMO_MODEL_DIR, loadModel } from "../../src/model/load.ts";
import type { Model } from "../../src/model/model.ts";
import { convertTensor } from "../../src/model/quantize.ts";
import type { StorageDType } from "../../src/tensor/formats/index.ts";
import { cli, cliOk } from "../helpers/cli.ts";
import { withEnv } from "../helpers/env.ts";
import { goldenModelWithTokenizer } from "../helpers/gguf-models.ts";

const work = mkdtempSync(join(tmpdir(), "loratune-gguf-base-e2e-"));
after(() => rmSync(work, { recursive: true, force: true }));

const MODELS = ["tiny", "tiny-llama3", "tiny-qwen2", "tiny-qwen3", "demo"];
const IDS = [3, 17, 42, 99, 7, 250, 31, 5, 64, 128, 11, 300, 2, 77, 150, 9];
const k = getKernels();

const dirs = new Map<string, string>();
function modelDir(name: string): string {
  if (!dirs.has(name)) dirs.set(name, name === "demo" ? DEMO_MODEL_DIR : goldenModelWithTokenizer(work, name));
  return dirs.get(name)!;
}

/** GGUF names of the tensors each export wrote in a fallback type ("blk.0.ffn_down.weight" → "f16"). */
const fallbacks = new Map<string, Map<string, string>>();

/** model.gguf of `name` in `outtype`, exported once. */
function gguf(name: string, outtype: string): string {
  const out = join(work, "exports", `${name}-${outtype}`);
  const path = join(out, "model.gguf");
  if (!fallbacks.has(path)) {
    const r = exportModel({ model: modelDir(name), out, outtype });
    fallbacks.set(path, new Map(r.fallbacks.map((f) => f.match(/^(\S+) \((\w+)\)$/)!.slice(1) as [string, string])));
  }
  return path;
}

/** Logits at every position of IDS (fed one token at a time through the KV cache), concatenated. */
function logits(model: Model): Float32Array {
  const session = createSession(model, IDS.length);
  const out = new Float32Array(IDS.length * model.config.vocabSize);
  for (const [i, id] of IDS.entries()) out.set(feedTokens(k, session, [id]), i * model.config.vocabSize);
  return out;
}

function assertSameBits(a: Float32Array, b: Float32Array, what: string): void {
  const at = a.findIndex((v, i) => !Object.is(v, b[i]));
  assert.equal(at, -1, `${what}: logits differ at ${at} (${a[at]} vs ${b[at]})`);
}

for (const name of MODELS) {
  test(`${name}: a GGUF export loaded as the base computes what the Hugging Face directory does`, () => {
    const hf = loadModel(modelDir(name));
    assertSameBits(logits(loadModel(gguf(name, "f32"))), logits(hf), "f32");
    for (const dtype of ["f16", "bf16"] as const) {
      const fromGguf = loadModel(gguf(name, dtype), { dtype });
      assertSameBits(logits(fromGguf), logits(loadModel(modelDir(name), { dtype })), dtype);
    }
    for (const q of ["q8_0", "q4_k"] as const) {
      const path = gguf(name, q);
      const fromGguf = loadModel(path);
      const quantized = loadModel(modelDir(name), { quantize: q });
      const naming = quantized.family.gguf!;
      let same = 0;
      for (const [hfName, t] of quantized.tensors) {
        const theirs = fromGguf.tensors.get(hfName)!;
        const written = fallbacks.get(path)!.get(naming.tensorName(hfName)!) as StorageDType | undefined;
        if (t.dtype === theirs.dtype && t.dtype !== "f32") {
          assert.deepEqual(t.data, theirs.data, `${q}: ${hfName} quantized alike`);
          same++;
        } else if (t.shape.length === 2) {
          // Held as the export wrote it from the directory's values: the embedding/head in the output type,
          // fallback rows rounded to f16 (the GGUF base widens them back to f32, its --dtype).
          const held = convertTensor(
            k,
            convertTensor(k, hf.tensors.get(hfName)!, written ?? theirs.dtype),
            theirs.dtype,
          );
          t.dtype = held.dtype;
          t.data = held.data;
        }
      }
      assert.ok(same >= quantized.linears.length / 2, `${q}: ${same} tensors quantized by both`);
      assertSameBits(logits(fromGguf), logits(quantized), q);
    }
  });

  test(`${name}: GGUF → loratune → GGUF writes every tensor and the tokenizer unchanged`, () => {
    for (const outtype of ["f32", "q8_0", "q4_k"]) {
      const src = gguf(name, outtype);
      const out = join(work, "reexports", `${name}-${outtype}`);
      exportModel({ model: src, out, outtype });
      const a = readGgufHeader(src);
      const b = readGgufHeader(join(out, "model.gguf"));
      assert.deepEqual(
        b.tensors.map((t) => [t.name, t.type.name, t.shape]),
        a.tensors.map((t) => [t.name, t.type.name, t.shape]),
      );
      for (const [i, t] of a.tensors.entries()) {
        assert.deepEqual(readGgufTensorBytes(b, b.tensors[i]!), readGgufTensorBytes(a, t), `${outtype}: ${t.name}`);
      }
      for (const [key, value] of a.metadata) {
        if (key !== "general.name") assert.deepEqual(b.metadata.get(key), value, `${outtype}: ${key}`);
      }
    }
  });
}

/** Pre-tokenized rows (no tokenizer needed) over ids below `vocab`. */
function idRows(path: string, vocab: number): string {
  const rows = Array.from({ length: 12 }, (_, r) => ({
    input_ids: Array.from({ length: 12 }, (_, i) => (r * 37 + i * 11 + 3) % vocab),
  }));
  writeFileSync(path, rows.map((row) => JSON.stringify(row)).join("\n"));
  return path;
}

test("an adapter trained on a GGUF base is a PEFT adapter for the Hugging Face model: same logits", async () => {
  const base = gguf("tiny-llama3", "f32");
  const out = join(work, "runs", "llama3-gguf");
  await train(
    {
      model: base,
      data: idRows(join(work, "llama3-rows.jsonl"), 400),
      out,
      steps: 3,
      batchSize: 2,
      seqLen: 12,
      lr: 0.01,
      targets: "all-linear",
    },
    { onMessage: () => {} },
  );
  const config = JSON.parse(readFileSync(join(out, "adapter_config.json"), "utf8"));
  assert.equal(config.base_model_name_or_path, base);
  const onGguf = loadModel(base);
  loadAdapter(out, onGguf);
  const onHf = loadModel(modelDir("tiny-llama3"));
  loadAdapter(out, onHf);
  const plain = logits(loadModel(modelDir("tiny-llama3")));
  const adapted = logits(onHf);
  assert.ok(
    adapted.some((v, i) => v !== plain[i]),
    "the adapter changes the logits",
  );
  assertSameBits(logits(onGguf), adapted, "adapter on the GGUF vs on the directory");
});

test("loratune train on the demo model's q4_k GGUF: trains, resumes, evaluates, merges into a model directory", () => {
  const base = gguf("demo", "q4_k");
  const data = idRows(join(work, "demo-rows.jsonl"), 1000);
  const run = join(work, "runs", "demo-q4k");
  const common = ["--data", data, "--batch-size", "2", "--seq-len", "12", "--lr", "0.01"];
  const first = cliOk("train", "--model", base, ...common, "--out", run, "--steps", "3");
  assert.match(first.stdout, /done: 3 steps \(completed\)/);
  assert.match(readFileSync(join(run, "config.yaml"), "utf8"), /^model: .*model\.gguf$/m);
  assert.match(cliOk("train", "--resume", run, "--steps", "5").stdout, /done: 5 steps/);
  const evalArgs = ["eval", "--model", base, "--adapter", run, "--data", data, "--json"];
  // The merged model holds f32 weights: it matches the adapter on exact (f32) block products; on a CPU with
  // AVX512_BF16 the default products round to bf16, within bf16's rounding of that.
  const evalAdapted = withEnv({ LORATUNE_BLOCK_COMPUTE: "f32" }, () => cliOk(...evalArgs).stdout);
  const evalDefault = cliOk(...evalArgs).stdout;
  const merged = join(work, "merged-demo-q4k");
  assert.match(cliOk("merge", "--model", base, "--adapter", run, "--out", merged).stdout, /F32 weights/);
  for (const f of ["config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"]) {
    assert.ok(readFileSync(join(merged, f)).length > 0, f);
  }
  const evalMerged = cliOk("eval", "--model", merged, "--data", data, "--json").stdout;
  const loss = (s: string) => JSON.parse(s).loss as number;
  assert.ok(Math.abs(loss(evalMerged) - loss(evalAdapted)) < 1e-4, `${evalMerged} vs ${evalAdapted}`);
  assert.ok(
    Math.abs(loss(evalDefault) - loss(evalAdapted)) < 1e-2 * loss(evalAdapted),
    `${evalDefault} vs ${evalAdapted}`,
  );
  const text = cliOk("generate", "--model", base, "--adapter", run, "--prompt", "Mira", "--max-tokens", "4").stdout;
  assert.ok(text.length > 0);
});

test("--out never is nor holds the .gguf input", () => {
  const base = gguf("demo", "q8_0");
  const data = idRows(join(work, "guard-rows.jsonl"), 1000);
  for (const out of [base, join(base, "..")]) {
    const r = cli("train", "--model", base, "--data", data, "--out", out, "--steps", "1");
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /--out .* (is|holds) the --model input .*model\.gguf/);
    const m = cli("merge", "--model", base, "--adapter", join(work, "runs", "demo-q4k"), "--out", out, "--overwrite");
    assert.match(m.stderr, /(is|holds) the --model input/);
  }
});
