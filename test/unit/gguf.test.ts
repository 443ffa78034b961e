/**
 * GGUF files without llama.cpp: the writer and the reader agree on every metadata type and on tensor layout;
 * the reader refuses corrupt headers with one clear error and without allocating what the header claims; the q/k
 * row permutation is a permutation and its inverse undoes it; adapters round-trip PEFT → GGUF → PEFT with
 * identical tensors; export refuses what llama.cpp cannot apply.
 */
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { exportModel } from "../../src/api/export.ts";
import type { GgufMetadata } from "../../src/gguf/metadata.ts";
import { readGgufHeader, readGgufTensorBytes, readGgufTensorF32 } from "../../src/gguf/reader.ts";
import { writeGguf } from "../../src/gguf/writer.ts";
import { writeSafetensors } from "../../src/io/safetensors-write.ts";
import { adapterTensors, attachAdapter } from "../../src/lora/adapter.ts";
import type { LoraConfig } from "../../src/lora/config.ts";
import { PEFT_CONFIG_KEY } from "../../src/lora/gguf-adapter.ts";
import { loadAdapter, saveAdapter } from "../../src/lora/peft-files.ts";
import { permuteHeadRows } from "../../src/model/arch/llama-gguf.ts";
import { parseModelConfig } from "../../src/model/config.ts";
import { initModelTensors } from "../../src/model/init.ts";
import { loadModel } from "../../src/model/load.ts";
import { inScaleConfig } from "../fixtures/in-scale-method.ts";
import { toyConfigJson } from "../fixtures/toy-family.ts";
import { GOLDEN_MODELS, goldenModelWithTokenizer } from "../helpers/gguf-models.ts";

const work = mkdtempSync(join(tmpdir(), "loratune-gguf-"));
after(() => rmSync(work, { recursive: true, force: true }));
const PARITY = join(GOLDEN_MODELS, "..", "parity");
const tokenized = new Map<string, string>();
/** The golden model with a test tokenizer (made once per model). */
function withTokenizer(name: string): string {
  if (!tokenized.has(name)) tokenized.set(name, goldenModelWithTokenizer(join(work, "models"), name));
  return tokenized.get(name)!;
}

const meta = (): GgufMetadata =>
  new Map([
    ["general.architecture", { type: "string", value: "llama" }],
    ["u8", { type: "u8", value: 250 }],
    ["i8", { type: "i8", value: -5 }],
    ["u16", { type: "u16", value: 65000 }],
    ["i16", { type: "i16", value: -300 }],
    ["u32", { type: "u32", value: 4_000_000_000 }],
    ["i32", { type: "i32", value: -7 }],
    ["f32", { type: "f32", value: 0.5 }],
    ["f64", { type: "f64", value: Math.PI }],
    ["bool", { type: "bool", value: true }],
    ["u64", { type: "u64", value: 2n ** 40n }],
    ["i64", { type: "i64", value: -(2n ** 40n) }],
    ["strings", { type: "array", of: "string", value: ["a", "ünï", ""] }],
    ["ints", { type: "array", of: "i32", value: [1, -2, 3] }],
  ]);

function sample(path: string): { a: Float32Array; b: Uint16Array } {
  const a = Float32Array.from({ length: 6 * 5 }, (_, i) => i * 0.25 - 3);
  const b = Uint16Array.from({ length: 3 }, (_, i) => 0x3f80 + i);
  writeGguf(path, meta(), [
    { name: "a", shape: [6, 5], type: 0, data: () => new Uint8Array(a.buffer) },
    { name: "b", shape: [3], type: 30, data: () => new Uint8Array(b.buffer) },
  ]);
  return { a, b };
}

test("GGUF: what the writer writes the reader reads back (every value type, shapes, aligned data)", () => {
  const path = join(work, "sample.gguf");
  const { a, b } = sample(path);
  const file = readGgufHeader(path);
  assert.equal(file.version, 3);
  assert.deepEqual([...file.metadata], [...meta()]);
  assert.deepEqual(
    file.tensors.map((t) => [t.name, t.shape, t.type.name]),
    [
      ["a", [6, 5], "F32"],
      ["b", [3], "BF16"],
    ],
  );
  for (const t of file.tensors) assert.equal((t.offset - file.dataOffset) % 32, 0);
  assert.deepEqual(readGgufTensorF32(file, file.tensors[0]!), a);
  assert.deepEqual(new Uint16Array(readGgufTensorBytes(file, file.tensors[1]!).buffer), b);
  // bf16 0x3f80 = 1.0, widened through the weight-format registry
  assert.equal(readGgufTensorF32(file, file.tensors[1]!)[0], 1);
});

test("GGUF: corrupt headers are refused in one line, before anything of the claimed size is allocated", () => {
  const path = join(work, "sample2.gguf");
  sample(path);
  const good = readFileSync(path);
  const bad = join(work, "bad.gguf");
  const refuse = (bytes: Uint8Array, pattern: RegExp) => {
    writeFileSync(bad, bytes);
    assert.throws(
      () => readGgufHeader(bad),
      (e: Error & { code?: string }) => e.code === "ERR_GGUF" && e.message.includes(bad) && pattern.test(e.message),
    );
  };
  const patched = (at: number, write: (v: DataView) => void) => {
    const copy = new Uint8Array(good);
    write(new DataView(copy.buffer, at));
    return copy;
  };
  refuse(good.subarray(0, 3), /ends inside the magic/);
  refuse(
    patched(0, (v) => v.setUint8(0, 0x58)),
    /not "GGUF"/,
  );
  refuse(
    patched(4, (v) => v.setUint32(0, 7, true)),
    /version 7 is not supported/,
  );
  refuse(
    patched(8, (v) => v.setBigUint64(0, 2n ** 62n, true)),
    /tensor count is 4611686018427387904, more than/,
  );
  refuse(
    patched(16, (v) => v.setBigUint64(0, 2n ** 40n, true)),
    /metadata count .* more than/,
  );
  // The first key's length: 2^50 bytes claimed.
  refuse(
    patched(24, (v) => v.setBigUint64(0, 2n ** 50n, true)),
    /length of metadata key 0 .* more than the file/,
  );
  refuse(good.subarray(0, good.length - 30), /run past the end of the file/);
  // Tensor "b"'s info: name length 1, "b", 1 dimension, size 3, type 30 (BF16), then its offset.
  const info = Buffer.from([1, 0, 0, 0, 0, 0, 0, 0, 0x62, 1, 0, 0, 0, 3, 0, 0, 0, 0, 0, 0, 0, 30, 0, 0, 0]);
  const at = Buffer.from(good).indexOf(info);
  assert.ok(at > 0);
  refuse(
    patched(at + 25, (v) => v.setBigUint64(0, 32n, true)),
    /tensors a and b overlap/,
  );
  refuse(
    patched(at + 21, (v) => v.setUint32(0, 99, true)),
    /unknown ggml type 99/,
  );
  refuse(
    patched(at + 13, (v) => v.setBigUint64(0, 2n ** 40n, true)),
    /dimension 0 of b is .* more than the file can hold/,
  );
});

test("the q/k row permutation is a permutation of whole rows per head, undone by its inverse", () => {
  const heads = 2;
  const hd = 6;
  const cols = 3;
  const src = Float32Array.from({ length: heads * hd * cols }, (_, i) => i);
  const out = permuteHeadRows(src, heads, cols);
  // Row h·hd + 2i + j of the result is row h·hd + j·hd/2 + i of the source.
  for (let h = 0; h < heads; h++) {
    for (let i = 0; i < hd / 2; i++) {
      for (let j = 0; j < 2; j++) {
        const to = h * hd + 2 * i + j;
        const from = h * hd + j * (hd / 2) + i;
        assert.deepEqual(out.subarray(to * cols, (to + 1) * cols), src.subarray(from * cols, (from + 1) * cols));
      }
    }
  }
  assert.deepEqual(permuteHeadRows(out, heads, cols, true), src);
});

for (const [modelName, parity] of [
  ["tiny", "tiny-all-linear"],
  ["tiny", "tiny-rslora"],
  ["tiny-llama3", "tiny-llama3-qv"],
  ["tiny-qwen2", "tiny-qwen2-qv"],
  ["tiny-qwen3", "tiny-qwen3-qv"],
]) {
  test(`adapter round trip PEFT → GGUF → PEFT: ${parity} on ${modelName} gives identical tensors and config`, () => {
    const modelDir = withTokenizer(modelName!);
    const peftDir = join(PARITY, parity!, "adapter");
    const out = join(work, `rt-${parity}`);
    const r = exportModel({ model: modelDir, adapter: peftDir, out, separateAdapter: true, outtype: "f32" });
    assert.deepEqual(r.files.sort(), ["Modelfile", "adapter.gguf", "model.gguf"]);
    assert.match(readFileSync(join(out, "Modelfile"), "utf8"), /^FROM \.\/model\.gguf\nADAPTER \.\/adapter\.gguf$/m);
    const gguf = join(out, "adapter.gguf");
    const header = readGgufHeader(gguf);
    assert.equal(header.metadata.get("general.type")?.value, "adapter");
    assert.equal(header.metadata.get("adapter.type")?.value, "lora");
    assert.ok(
      header.tensors.every((t) =>
        /^blk\.\d+\.(attn_(q|k|v|output)|ffn_(gate|up|down))\.weight\.lora_[ab]$/.test(t.name),
      ),
    );
    const viaPeft = loadModel(modelDir);
    const viaGguf = loadModel(modelDir);
    const c1 = loadAdapter(peftDir, viaPeft);
    const c2 = loadAdapter(gguf, viaGguf);
    assert.deepEqual(c2, c1);
    const t1 = adapterTensors(viaPeft);
    const t2 = adapterTensors(viaGguf);
    assert.deepEqual(
      t2.map((t) => t.name),
      t1.map((t) => t.name),
    );
    for (const [i, t] of t1.entries()) assert.deepEqual(t2[i]!.data, t.data, t.name);

    // As llama.cpp's own converter writes it: no PEFT config inside; r, lora_alpha and the targets come back.
    const bare = join(out, "bare.gguf");
    const meta = new Map([...header.metadata].filter(([k]) => k !== PEFT_CONFIG_KEY));
    writeGguf(
      bare,
      meta,
      header.tensors.map((t) => ({
        name: t.name,
        shape: t.shape,
        type: t.type.id,
        data: () => readGgufTensorBytes(header, t),
      })),
    );
    const viaBare = loadModel(modelDir);
    const c3 = loadAdapter(bare, viaBare) as LoraConfig;
    const want = c1 as LoraConfig;
    assert.equal(c3.r, want.r);
    assert.deepEqual([...c3.targetModules].sort(), [...want.targetModules].sort());
    assert.equal(c3.useRslora ? 0 : c3.loraAlpha, want.useRslora ? want.loraAlpha * Math.sqrt(want.r) : want.loraAlpha);
    for (const [i, t] of adapterTensors(viaBare).entries()) assert.deepEqual(t.data, t1[i]!.data, t.name);
  });
}

test("export refuses what llama.cpp cannot apply: unknown --outtype, a family it lacks, an adapter for another base", () => {
  const tiny = withTokenizer("tiny");
  assert.throws(
    () => exportModel({ model: tiny, out: join(work, "x1"), outtype: "q3" }),
    (e: Error & { code?: string }) =>
      e.code === "ERR_USAGE" && /--outtype "q3" is not an output type .*f32, f16, bf16, q8_0/.test(e.message),
  );
  // The toy family (test/fixtures/toy-family.ts) has no llama.cpp architecture.
  const toyDir = join(work, "toy");
  mkdirSync(toyDir, { recursive: true });
  const toyJson = toyConfigJson();
  writeFileSync(join(toyDir, "config.json"), JSON.stringify(toyJson));
  const toyTensors = initModelTensors(parseModelConfig(toyJson), { seed: 1, std: 0.1 });
  const asFile = new Map(
    [...toyTensors].map(([k, t]) => [k, { dtype: "F32" as const, shape: t.shape, data: t.data as Float32Array }]),
  );
  writeSafetensors(join(toyDir, "model.safetensors"), asFile, { format: "pt" });
  assert.throws(
    () => exportModel({ model: toyDir, out: join(work, "x2") }),
    (e: Error & { code?: string }) =>
      e.code === "ERR_UNSUPPORTED" && /the toy family \(model_type toy\) has no llama.cpp architecture/.test(e.message),
  );
  // An adapter trained on tiny-qwen2 (hidden 64, 2 layers) given with tiny (5 layers).
  assert.throws(
    () => exportModel({ model: tiny, adapter: join(PARITY, "tiny-qwen2-qv", "adapter"), out: join(work, "x3") }),
    (e: Error & { code?: string }) =>
      e.code === "ERR_ADAPTER_KEYS" && /adapter was trained on a model with 2 layers/.test(e.message),
  );
  // A GGUF adapter for qwen2 given to a llama model names both architectures.
  const q = join(work, "q-adapter");
  exportModel({
    model: withTokenizer("tiny-qwen2"),
    adapter: join(PARITY, "tiny-qwen2-qv", "adapter"),
    out: q,
    separateAdapter: true,
  });
  assert.throws(
    () => loadAdapter(join(q, "adapter.gguf"), loadModel(tiny)),
    (e: Error & { code?: string }) =>
      e.code === "ERR_ADAPTER_KEYS" && /architecture "qwen2"; this model is "llama"/.test(e.message),
  );
  // Nothing was left behind by the refused exports.
  for (const x of ["x1", "x2", "x3"]) assert.throws(() => readFileSync(join(work, x, "loratune.json")));
});

test("export follows the output rules: a non-empty --out is refused, replaced with --overwrite only when it is an export", () => {
  const tiny = withTokenizer("tiny-qwen3");
  const out = join(work, "rules");
  exportModel({ model: tiny, out, outtype: "f32" });
  assert.throws(() => exportModel({ model: tiny, out }), /already exists and is not empty \(pass --overwrite/);
  exportModel({ model: tiny, out, overwrite: true, outtype: "bf16" });
  assert.equal(readGgufHeader(join(out, "model.gguf")).metadata.get("general.file_type")?.value, 32);
  const other = join(work, "not-ours");
  mkdirSync(other);
  writeFileSync(join(other, "keep.txt"), "x");
  assert.throws(() => exportModel({ model: tiny, out: other, overwrite: true }), /not a directory loratune wrote/);
  assert.throws(() => exportModel({ model: tiny, out: tiny }), /is the --model input/);
});

test("model.gguf carries the hyperparameters, the tokenizer and the output head as llama.cpp reads them", () => {
  const out = join(work, "hp");
  exportModel({ model: withTokenizer("tiny-llama3"), out, outtype: "f32" });
  const f = readGgufHeader(join(out, "model.gguf"));
  const v = (k: string) => f.metadata.get(k)?.value;
  assert.equal(v("general.architecture"), "llama");
  assert.equal(v("general.file_type"), 0);
  assert.equal(v("llama.context_length"), 4096);
  assert.equal(v("llama.embedding_length"), 64);
  assert.equal(v("llama.block_count"), 2);
  assert.equal(v("llama.feed_forward_length"), 128);
  assert.equal(v("llama.attention.head_count"), 4);
  assert.equal(v("llama.attention.head_count_kv"), 1);
  assert.equal(v("llama.rope.dimension_count"), 16);
  assert.equal(v("llama.rope.freq_base"), 500000);
  assert.equal(v("llama.attention.layer_norm_rms_epsilon"), Math.fround(1e-5));
  assert.equal(v("tokenizer.ggml.model"), "gpt2");
  assert.equal(v("tokenizer.ggml.pre"), "llama-bpe");
  assert.equal((v("tokenizer.ggml.tokens") as string[]).length, 512, "one token per embedding row (padded)");
  assert.equal(v("tokenizer.ggml.add_bos_token"), true);
  const names = f.tensors.map((t) => t.name);
  // Llama-3 RoPE scaling as per-frequency factors: 1 for high frequencies, the factor (8) for the lowest.
  const freqs = readGgufTensorF32(f, f.tensors.find((t) => t.name === "rope_freqs.weight")!);
  assert.equal(freqs.length, 8);
  assert.equal(freqs[0], 1);
  assert.ok(Math.abs(freqs[7]! - 8) < 1e-4, `lowest frequency factor ${freqs[7]}`);
  assert.ok(names.includes("output.weight"), "untied: its own output head");
  assert.equal(f.tensors.find((t) => t.name === "blk.0.attn_k.weight")!.shape.join(","), "16,64");

  const tied = join(work, "hp-tied");
  exportModel({ model: withTokenizer("tiny-qwen3"), out: tied, outtype: "f32" });
  const q = readGgufHeader(join(tied, "model.gguf"));
  assert.equal(q.metadata.get("qwen3.attention.key_length")?.value, 32, "head_dim 32 with hidden 64 and 4 heads");
  assert.ok(!q.tensors.some((t) => t.name === "output.weight"), "tied: no output head, llama.cpp uses token_embd");
  assert.ok(q.tensors.some((t) => t.name === "blk.1.attn_k_norm.weight"));
  assert.equal(q.metadata.get("tokenizer.ggml.pre")?.value, "smollm");
  assert.ok(String(q.metadata.get("tokenizer.chat_template")?.value).includes("<|im_start|>"));
});

test("an adapter alone is exported for the base its adapter_config.json names", () => {
  const base = withTokenizer("tiny-qwen2");
  const run = join(work, "run-qwen2");
  mkdirSync(run, { recursive: true });
  const src = join(PARITY, "tiny-qwen2-qv", "adapter");
  writeFileSync(join(run, "adapter_model.safetensors"), readFileSync(join(src, "adapter_model.safetensors")));
  const config = JSON.parse(readFileSync(join(src, "adapter_config.json"), "utf8"));
  writeFileSync(join(run, "adapter_config.json"), JSON.stringify({ ...config, base_model_name_or_path: base }));
  const out = join(work, "adapter-only");
  const r = exportModel({ adapter: run, out });
  assert.deepEqual(r.files.sort(), ["Modelfile", "adapter.gguf"]);
  assert.match(
    readFileSync(join(out, "Modelfile"), "utf8"),
    new RegExp(`^FROM ${base}\\nADAPTER \\./adapter\\.gguf$`, "m"),
  );
  assert.equal(readGgufHeader(join(out, "adapter.gguf")).metadata.get("general.architecture")?.value, "qwen2");
  // Without a base model it can find, --model is asked for.
  writeFileSync(join(run, "adapter_config.json"), JSON.stringify({ ...config, base_model_name_or_path: "nowhere" }));
  assert.throws(
    () => exportModel({ adapter: run, out: join(work, "adapter-only-2") }),
    /give --model \(the adapter's base model, "nowhere", is not a model directory here\)/,
  );
});

test("an adapter method llama.cpp cannot apply is refused by name; merging it into model.gguf is not", () => {
  const base = withTokenizer("tiny");
  const model = loadModel(base);
  attachAdapter(model, inScaleConfig({ targetModules: ["q_proj"], init: "uniform" }), () => 0.25, false);
  const run = join(work, "in-scale");
  saveAdapter(run, model, inScaleConfig({ targetModules: ["q_proj"], init: "uniform" }), base);
  assert.throws(
    () => exportModel({ model: base, adapter: run, separateAdapter: true, out: join(work, "in-scale-out") }),
    (e: Error & { code?: string }) =>
      e.code === "ERR_UNSUPPORTED" &&
      /q_proj: the adapter is not plain LoRA; llama.cpp applies only LoRA adapters/.test(e.message),
  );
  // Merged, the method is only a change of weights, which llama.cpp runs like any other.
  const merged = exportModel({ model: base, adapter: run, out: join(work, "in-scale-merged"), outtype: "f32" });
  assert.equal(merged.merged, 5);
});
