/**
 * Re-exporting a mixed-type GGUF base (Q4_K rows of 256 values, Q8_0 elsewhere, as a Q4_K_M file mixes types) with
 * a block --outtype writes each block-format tensor in its own type, byte for byte (no second quantization), and
 * says so in `fallbacks`/`kept`; a tensor an adapter was merged into is f32 in memory and takes the output type; a
 * float --outtype widens every tensor.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { exportModel } from "../../src/api/export.ts";
import { type GgufFile, readGgufHeader, readGgufTensorBytes } from "../../src/gguf/reader.ts";
import { attachLora } from "../../src/lora/adapter.ts";
import { defaultLoraConfig } from "../../src/lora/config.ts";
import { LoraAdapter } from "../../src/lora/methods/lora.ts";
import { saveAdapter } from "../../src/lora/peft-files.ts";
import { loadModel } from "../../src/model/load.ts";
import { Rng } from "../../src/tensor/rng.ts";
import { ggufModelSeeds } from "../fuzz/gguf-corpus.ts";

const work = mkdtempSync(join(tmpdir(), "lt-gguf-reexport-"));
after(() => rmSync(work, { recursive: true, force: true }));

/** The Q4_K + Q8_0 seed model as a file. */
function mixedBase(): string {
  const seed = ggufModelSeeds().find((s) => s.name === "gguf-llama-spm-q4k")!;
  const path = join(work, "base-q4k.gguf");
  writeFileSync(path, seed.files["model.gguf"]!);
  return path;
}

const byName = (f: GgufFile) => new Map(f.tensors.map((t) => [t.name, t]));
const typesOf = (f: GgufFile) => new Map(f.tensors.map((t) => [t.name, t.type.name]));

test("a block --outtype keeps a GGUF base's block tensors in their own type, byte for byte", () => {
  const base = mixedBase();
  const src = readGgufHeader(base);
  assert.equal(typesOf(src).get("blk.0.ffn_down.weight"), "Q4_K");
  assert.equal(typesOf(src).get("blk.0.attn_q.weight"), "Q8_0");
  const r = exportModel({ model: base, out: join(work, "q6k"), outtype: "q6_k" });
  const out = readGgufHeader(join(work, "q6k", "model.gguf"));
  assert.deepEqual(typesOf(out), typesOf(src), "every tensor in the type it had");
  const theirs = byName(out);
  for (const t of src.tensors) {
    assert.deepEqual(readGgufTensorBytes(out, theirs.get(t.name)!), readGgufTensorBytes(src, t), t.name);
  }
  // Every 2-D tensor is in another type than q6_k, kept as stored.
  const twoD = src.tensors.filter((t) => t.shape.length === 2).map((t) => t.name);
  assert.deepEqual([...r.kept].sort(), [...twoD].sort());
  assert.ok(r.fallbacks.includes("blk.0.ffn_down.weight (q4_k)"), r.fallbacks.join(", "));
  assert.ok(r.fallbacks.includes("token_embd.weight (q8_0)"), r.fallbacks.join(", "));

  // --outtype q8_0: the Q4_K tensors stay Q4_K (not quantized again to Q8_0); the Q8_0 ones are no fallback.
  const q8 = exportModel({ model: base, out: join(work, "q8"), outtype: "q8_0" });
  assert.deepEqual(q8.kept, ["blk.0.ffn_down.weight", "blk.1.ffn_down.weight"]);
  assert.deepEqual(q8.fallbacks, ["blk.0.ffn_down.weight (q4_k)", "blk.1.ffn_down.weight (q4_k)"]);
  assert.deepEqual(typesOf(readGgufHeader(join(work, "q8", "model.gguf"))), typesOf(src));

  // A float --outtype widens every weight.
  const f16 = exportModel({ model: base, out: join(work, "f16"), outtype: "f16" });
  assert.deepEqual([f16.kept, f16.fallbacks], [[], []]);
  const widened = readGgufHeader(join(work, "f16", "model.gguf"));
  assert.ok(widened.tensors.every((t) => t.type.name === (t.shape.length === 1 ? "F32" : "F16")));
});

test("a merged tensor takes the output type; the unmerged block tensors are kept as stored", () => {
  const base = mixedBase();
  const model = loadModel(base);
  const config = defaultLoraConfig({ r: 4, targetModules: ["q_proj", "down_proj"] });
  const rng = new Rng(3);
  attachLora(model, config, () => rng.next());
  for (const lin of model.linears) {
    if (lin.adapter instanceof LoraAdapter) lin.adapter.B.fill(0.01);
  }
  const adapter = join(work, "adapter");
  saveAdapter(adapter, model, config, base);
  const r = exportModel({ model: base, adapter, out: join(work, "merged"), outtype: "q6_k" });
  assert.equal(r.merged, 4);
  const src = readGgufHeader(base);
  const out = readGgufHeader(join(work, "merged", "model.gguf"));
  const types = typesOf(out);
  // down_proj rows are 256 values: merged (f32) and quantized to Q6_K; q_proj rows of 32 fall back to Q8_0.
  assert.equal(types.get("blk.0.ffn_down.weight"), "Q6_K");
  assert.equal(types.get("blk.0.attn_q.weight"), "Q8_0");
  assert.ok(!r.kept.includes("blk.0.ffn_down.weight") && !r.kept.includes("blk.0.attn_q.weight"));
  const srcByName = byName(src);
  const q = "blk.1.attn_q.weight";
  assert.notDeepEqual(readGgufTensorBytes(out, byName(out).get(q)!), readGgufTensorBytes(src, srcByName.get(q)!));
  for (const name of ["blk.0.attn_k.weight", "blk.1.ffn_up.weight", "token_embd.weight"]) {
    assert.ok(r.kept.includes(name), name);
    assert.deepEqual(readGgufTensorBytes(out, byName(out).get(name)!), readGgufTensorBytes(src, srcByName.get(name)!));
  }
});
