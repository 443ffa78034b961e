/**
 * A GGUF file as a base model (src/model/load-gguf.ts): the tensor names and Llama 3's RoPE scaling read back as
 * the Hugging Face ones, quantized weights kept byte for byte in their format (q/k rows moved back whole), --dtype
 * applied to float 2-D tensors only, and every kind of bad file refused with an error naming the file, the tensor
 * or key, and what was expected.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { exportModel } from "../../src/api/export.ts";
import { type GgufMetadata, str } from "../../src/gguf/metadata.ts";
import { readGgufHeader, readGgufTensorBytes } from "../../src/gguf/reader.ts";
import { type GgufTensorOut, writeGguf } from "../../src/gguf/writer.ts";
import { familyForGgufArch } from "../../src/model/arch/registry.ts";
import { loadModel } from "../../src/model/load.ts";
import { loadGgufModel } from "../../src/model/load-gguf.ts";
import { llama3ScalingFromFactors } from "../../src/nn/rope-recover.ts";
import { ropeFreqFactors } from "../../src/nn/rope-tables.ts";
import { weightFormat } from "../../src/tensor/formats/index.ts";
import { goldenModelWithTokenizer } from "../helpers/gguf-models.ts";

const work = mkdtempSync(join(tmpdir(), "loratune-gguf-base-"));
after(() => rmSync(work, { recursive: true, force: true }));

const exports = new Map<string, string>();
/** model.gguf of `name` ("demo" or a golden model) exported once per outtype. */
function exported(name: string, outtype: string): string {
  const key = `${name}-${outtype}`;
  if (!exports.has(key)) {
    const dir = name === "demo" ? "demo" : goldenModelWithTokenizer(join(work, "models"), name);
    exportModel({ model: dir, out: join(work, key), outtype });
    exports.set(key, join(work, key, "model.gguf"));
  }
  return exports.get(key)!;
}

interface Editable {
  meta: GgufMetadata;
  tensors: { name: string; shape: number[]; type: number; bytes: Uint8Array }[];
}

/** A copy of the GGUF `src` with `edit` applied to its metadata and tensors. */
function rewrite(src: string, name: string, edit: (f: Editable) => void): string {
  const file = readGgufHeader(src);
  const f: Editable = {
    meta: new Map(file.metadata),
    tensors: file.tensors.map((t) => ({
      name: t.name,
      shape: t.shape,
      type: t.type.id,
      bytes: readGgufTensorBytes(file, t),
    })),
  };
  edit(f);
  const path = join(work, `${name}.gguf`);
  const out: GgufTensorOut[] = f.tensors.map((t) => ({ ...t, data: () => t.bytes }));
  writeGguf(path, f.meta, out);
  return path;
}

test("GGUF tensor names map back to every Hugging Face name of each family", () => {
  for (const [arch, name] of [
    ["llama", "tiny-llama3"],
    ["qwen2", "tiny-qwen2"],
    ["qwen3", "tiny-qwen3"],
  ] as const) {
    const family = familyForGgufArch(arch, "test");
    const model = loadModel(exported(name, "f32"));
    assert.equal(model.family, family);
    for (const spec of model.specs) {
      assert.equal(family.gguf!.hfTensorName(family.gguf!.tensorName(spec.name)!), spec.name);
    }
    assert.equal(family.gguf!.hfTensorName("blk.0.attn_q.scales"), null);
    assert.equal(family.gguf!.hfTensorName("blk.01.attn_q.weight"), null);
  }
});

test("Llama 3 RoPE scaling is recovered from rope_freqs exactly, or found not to be Llama 3's", () => {
  const cases = [
    [16, 500000, 8, 4, 256],
    [128, 500000, 8, 4, 8192],
    [64, 500000, 32, 4, 8192],
    [128, 500000, 16, 2, 4096],
    [8, 10000, 4, 4, 100],
  ] as const;
  for (const [hd, theta, factor, hi, old] of cases) {
    const s = { type: "llama3", factor, lowFreqFactor: 1, highFreqFactor: hi, originalMaxPositions: old } as const;
    assert.deepEqual(llama3ScalingFromFactors(hd, theta, ropeFreqFactors(hd, theta, s)), s);
  }
  assert.equal(llama3ScalingFromFactors(16, 10000, new Float32Array(8).fill(1)), null);
  const odd = Float32Array.from([1, 3, 1, 2, 5, 8, 8, 8]);
  assert.equal(llama3ScalingFromFactors(16, 10000, odd), undefined);
});

test("a q4_k GGUF keeps its blocks as written (q/k rows moved back whole) and --dtype only for float tensors", () => {
  const hf = loadModel("demo");
  const model = loadModel(exported("demo", "q4_k"), { dtype: "bf16" });
  for (const lin of model.linears) {
    const want = lin.name.endsWith("down_proj") ? "q8_0" : "q4_k";
    assert.equal(lin.weight.dtype, want, lin.name);
    const f = weightFormat(want);
    const n = lin.outFeatures * lin.inFeatures;
    const enc = f.alloc(n);
    f.fromF32(enc, 0, hf.tensors.get(`${lin.name}.weight`)!.data as Float32Array, n);
    assert.deepEqual(lin.weight.data, enc, `${lin.name}: the Hugging Face weight's blocks, in its row order`);
  }
  assert.equal(model.embed.dtype, "q4_k", "the tied embedding stays as stored");
  assert.equal(model.dtype, "bf16");
  const f16 = loadModel(exported("demo", "f16"), { dtype: "bf16" });
  assert.ok(f16.linears.every((l) => l.weight.dtype === "bf16") && f16.embed.dtype === "bf16");
  assert.ok(loadModel(exported("demo", "f16"), { dtype: "f16" }).linears.every((l) => l.weight.dtype === "f16"));
  const quantized = loadModel(exported("demo", "f16"), { quantize: "q8_0" });
  assert.ok(
    quantized.linears.every((l) => l.weight.dtype === "q8_0"),
    "--quantize applies to float linears",
  );
  const kept = loadModel(exported("demo", "q4_k"), { quantize: "q8_0" });
  assert.ok(
    kept.linears.some((l) => l.weight.dtype === "q4_k"),
    "quantized linears are not requantized",
  );
});

test("the config comes from the metadata: tied output, biases, q/k norms, epsilon as written in config.json", () => {
  const llama3 = loadModel(exported("tiny-llama3", "f32")).config;
  assert.equal(llama3.tieWordEmbeddings, false);
  assert.equal(llama3.normEps, 1e-5);
  assert.deepEqual((llama3.arch as { ropeScaling: unknown }).ropeScaling, {
    type: "llama3",
    factor: 8,
    lowFreqFactor: 1,
    highFreqFactor: 4,
    originalMaxPositions: 256,
  });
  const qwen2 = loadModel(exported("tiny-qwen2", "f32")).config;
  assert.equal(qwen2.tieWordEmbeddings, true);
  assert.equal((qwen2.arch as { qkvBias: boolean }).qkvBias, true);
  assert.equal((loadModel(exported("tiny-qwen3", "f32")).config.arch as { qkNorm: boolean }).qkNorm, true);
  const tiny = loadModel(exported("tiny", "f32")).config;
  assert.deepEqual([tiny.numHeads, tiny.numKvHeads, tiny.headDim, tiny.intermediateSize], [8, 4, 8, 172]);
});

test("bad GGUF bases are refused naming the file and what is wrong", () => {
  const src = exported("tiny", "f32");
  const fails = (path: string, code: string, pattern: RegExp) =>
    assert.throws(
      () => loadGgufModel(path),
      (e: Error & { code?: string }) => e.code === code && pattern.test(e.message) && e.message.includes(path),
    );
  const falcon = rewrite(src, "falcon", (f) => f.meta.set("general.architecture", str("falcon")));
  fails(
    falcon,
    "ERR_UNSUPPORTED",
    /general.architecture "falcon" is not supported \(supported: llama, qwen2, qwen3, gpt2, gemma, gemma2, gemma3\b/,
  );
  const q41 = rewrite(src, "q41", (f) => {
    const t = f.tensors.find((x) => x.name === "blk.0.attn_v.weight")!;
    t.type = 3; // Q4_1: 32 values in 20 bytes
    t.bytes = new Uint8Array((t.shape[0]! * t.shape[1]! * 20) / 32);
  });
  fails(q41, "ERR_UNSUPPORTED", /blk\.0\.attn_v\.weight \(Q4_1\).*it reads F32, BF16, F16, Q8_0/);
  const missing = rewrite(src, "missing", (f) => {
    f.tensors = f.tensors.filter((t) => t.name !== "blk.1.ffn_up.weight");
  });
  fails(missing, "ERR_GGUF", /missing blk\.1\.ffn_up\.weight \[172, 64\] \(model\.layers\.1\.mlp\.up_proj\.weight\)/);
  const shaped = rewrite(src, "shaped", (f) => {
    const t = f.tensors.find((x) => x.name === "blk.0.ffn_norm.weight")!;
    t.shape = [32];
    t.bytes = t.bytes.slice(0, 128);
  });
  fails(
    shaped,
    "ERR_GGUF",
    /blk\.0\.ffn_norm\.weight \(model\.layers\.0\.post_attention_layernorm\.weight\) has shape \[32\], expected \[64\]/,
  );
  const extra = rewrite(src, "extra", (f) => {
    f.tensors.push({ name: "blk.0.attn_gate.weight", shape: [4], type: 0, bytes: new Uint8Array(16) });
  });
  fails(extra, "ERR_GGUF", /unknown tensor blk\.0\.attn_gate\.weight \[4\]/);
  const noArch = rewrite(src, "no-arch", (f) => f.meta.delete("general.architecture"));
  fails(noArch, "ERR_GGUF", /no general\.architecture/);
  const noHeads = rewrite(src, "no-heads", (f) => f.meta.delete("llama.attention.head_count"));
  fails(noHeads, "ERR_GGUF", /metadata llama\.attention\.head_count is missing/);
  const yarn = rewrite(src, "yarn", (f) => f.meta.set("llama.rope.scaling.type", str("yarn")));
  fails(yarn, "ERR_UNSUPPORTED", /llama\.rope\.scaling\.type "yarn" is not supported/);
  const freqs = rewrite(exported("tiny-llama3", "f32"), "freqs", (f) => {
    const t = f.tensors.find((x) => x.name === "rope_freqs.weight")!;
    t.bytes = new Uint8Array(Float32Array.from([1, 3, 1, 2, 5, 8, 8, 8]).buffer);
  });
  fails(freqs, "ERR_UNSUPPORTED", /tensor rope_freqs\.weight holds factors that no Llama-3 rope_scaling reproduces/);
  assert.throws(() => loadModel(join(work, "absent.gguf")), /absent\.gguf: GGUF model file not found/);
});
