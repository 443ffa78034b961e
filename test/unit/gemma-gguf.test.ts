/**
 * The Gemma families' llama.cpp naming (gemma-gguf.ts) without llama.cpp: tensor names and the 1 + w norms of the
 * golden Gemma fixture as written, the hyperparameters of Gemma 2 and 3, and the refusals of what llama.cpp's graph
 * fixes otherwise (the golden Gemma 2/3 fixtures' query_pre_attn_scalar 24 over head_dim 16, Gemma 3's sliding
 * pattern 2, a Gemma 2 without attention soft-cap, Gemma 3 with soft-caps or another local RoPE base), the note on
 * a Gemma 2 without final soft-cap, and each family's GGUF read back as a base (config and weights).
 * llama.cpp's own judgement is test/e2e/gemma-llama-cpp.test.ts.
 */
import assert from "node:assert/strict";
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { exportModel } from "../../src/api/export.ts";
import { ggufOuttype } from "../../src/gguf/outtype.ts";
import { writeGguf } from "../../src/gguf/writer.ts";
import { gemma2 } from "../../src/model/arch/gemma2.ts";
import { gemma3Text } from "../../src/model/arch/gemma3.ts";
import { parseModelConfig } from "../../src/model/config.ts";
import { modelGgufMetadata, modelGgufTensors } from "../../src/model/gguf-tensors.ts";
import { loadModel } from "../../src/model/load.ts";
import { loadGgufModel } from "../../src/model/load-gguf.ts";

const GOLDEN = "test/fixtures/golden";
const configOf = (family: string): Record<string, unknown> =>
  JSON.parse(readFileSync(join(GOLDEN, family, "model", "config.json"), "utf8"));

test("gemma: llama.cpp's tensor names, every norm written as 1 + w, other tensors unchanged", () => {
  const model = loadModel(join(GOLDEN, "gemma", "model"));
  const { tensors } = modelGgufTensors(model, ggufOuttype("f32"));
  const names = tensors.map((t) => t.name);
  for (const n of ["token_embd.weight", "output_norm.weight", "blk.1.attn_norm.weight", "blk.1.ffn_norm.weight"]) {
    assert.ok(names.includes(n), n);
  }
  assert.ok(!names.includes("output.weight"), "tied head: no output.weight");
  const written = (gguf: string, hf: string) => {
    const bytes = tensors.find((t) => t.name === gguf)!.data() as Uint8Array;
    const got = new Float32Array(bytes.slice().buffer);
    const w = model.tensors.get(hf)!.data as Float32Array;
    return { got, w };
  };
  const norm = written("blk.0.ffn_norm.weight", "model.layers.0.post_attention_layernorm.weight");
  assert.ok(
    norm.w.some((v) => v !== 0),
    "the fixture's norm weights are not all 0",
  );
  assert.deepEqual(
    [...norm.got],
    [...norm.w].map((v) => Math.fround(v + 1)),
  );
  const q = written("blk.0.attn_q.weight", "model.layers.0.self_attn.q_proj.weight");
  assert.deepEqual([...q.got], [...q.w], "q rows kept (llama.cpp's gemma RoPE is rotate-half)");
  const meta = new Map(modelGgufMetadata(model, "g", ggufOuttype("f32")));
  assert.deepEqual(meta.get("general.architecture"), { type: "string", value: "gemma" });
  assert.deepEqual(meta.get("gemma.attention.key_length"), { type: "u32", value: model.config.headDim });
});

test("gemma2/gemma3: post_attention_norm, ffn_norm, post_ffw_norm, q/k norms and the hyperparameters", () => {
  const g2 = parseModelConfig({ ...configOf("gemma2"), query_pre_attn_scalar: 16 });
  const meta2 = new Map(gemma2Naming().metadata(g2));
  assert.deepEqual(meta2.get("gemma2.attn_logit_softcapping"), { type: "f32", value: 2 });
  assert.deepEqual(meta2.get("gemma2.final_logit_softcapping"), { type: "f32", value: 3 });
  assert.deepEqual(meta2.get("gemma2.attention.sliding_window"), { type: "u32", value: 4 });
  assert.deepEqual(gemma2Naming().notes?.(g2), []);
  const uncapped = parseModelConfig({
    ...configOf("gemma2"),
    query_pre_attn_scalar: 16,
    final_logit_softcapping: null,
  });
  assert.equal(new Map(gemma2Naming().metadata(uncapped)).has("gemma2.final_logit_softcapping"), false);
  assert.match(gemma2Naming().notes?.(uncapped)[0] ?? "", /soft-caps the final logits at 30/);
  const n2 = gemma2Naming();
  assert.equal(n2.tensorName("model.layers.3.post_attention_layernorm.weight"), "blk.3.post_attention_norm.weight");
  assert.equal(n2.tensorName("model.layers.3.pre_feedforward_layernorm.weight"), "blk.3.ffn_norm.weight");
  assert.equal(n2.tensorName("model.layers.3.post_feedforward_layernorm.weight"), "blk.3.post_ffw_norm.weight");
  assert.equal(n2.hfTensorName("blk.3.post_ffw_norm.weight"), "model.layers.3.post_feedforward_layernorm.weight");
  const g3 = parseModelConfig({ ...configOf("gemma3"), query_pre_attn_scalar: 16, sliding_window_pattern: 6 });
  const n3 = gemma3Naming();
  assert.equal(n3.tensorName("model.layers.0.self_attn.q_norm.weight"), "blk.0.attn_q_norm.weight");
  assert.equal(n3.valueShift?.("model.layers.0.self_attn.k_norm.weight"), 1);
  const meta3 = new Map(n3.metadata(g3));
  assert.deepEqual(meta3.get("gemma3.rope.freq_base"), { type: "f32", value: 1e6 });
  assert.deepEqual(meta3.get("gemma3.rope.scaling.type"), { type: "string", value: "linear" });
  assert.equal(meta3.has("gemma3.attn_logit_softcapping"), false);
});

test("settings llama.cpp fixes otherwise are refused, naming them", () => {
  const refused = (family: string, patch: Record<string, unknown>, what: RegExp) => {
    const c = parseModelConfig({ ...configOf(family), ...patch });
    const naming = family === "gemma2" ? gemma2Naming() : gemma3Naming();
    assert.throws(
      () => naming.metadata(c),
      (e: Error & { code?: string }) => {
        assert.equal(e.code, "ERR_UNSUPPORTED");
        assert.match(e.message, what);
        return true;
      },
    );
  };
  // The golden fixtures as they are.
  refused("gemma2", {}, /query_pre_attn_scalar 24 \(llama\.cpp scales scores by 16\^-0\.5\)/);
  refused("gemma3", {}, /query_pre_attn_scalar 24/);
  refused("gemma2", { query_pre_attn_scalar: 16, attn_logit_softcapping: null }, /no attn_logit_softcapping/);
  refused("gemma3", { query_pre_attn_scalar: 16 }, /layer 1 is global \(llama\.cpp slides layer i when i % 6 < 5\)/);
  const g3 = { query_pre_attn_scalar: 16, sliding_window_pattern: 6 };
  refused("gemma3", { ...g3, final_logit_softcapping: 30 }, /final_logit_softcapping set/);
  refused("gemma3", { ...g3, rope_local_base_freq: 20000 }, /rope_local_base_freq 20000/);
});

function gemma2Naming() {
  return gemma2.gguf!;
}
function gemma3Naming() {
  return gemma3Text.gguf!;
}

test("a Gemma GGUF reads back as a base: the config llama.cpp computes with, the weights, the norms less 1", () => {
  const work = mkdtempSync(join(tmpdir(), "loratune-gemma-gguf-"));
  try {
    // The golden fixtures with what llama.cpp fixes (gemma3: sliding_window_pattern 6 over its 2 layers).
    const patches: Record<string, Record<string, unknown>> = {
      gemma: {},
      gemma2: { query_pre_attn_scalar: 16 },
      gemma3: { query_pre_attn_scalar: 16, sliding_window_pattern: 6 },
    };
    for (const [family, patch] of Object.entries(patches)) {
      const dir = join(work, family);
      mkdirSync(dir);
      copyFileSync(join(GOLDEN, family, "model", "model.safetensors"), join(dir, "model.safetensors"));
      writeFileSync(join(dir, "config.json"), JSON.stringify({ ...configOf(family), ...patch }));
      const model = loadModel(dir);
      const path = join(work, `${family}.gguf`);
      const meta = new Map(modelGgufMetadata(model, family, ggufOuttype("f32")));
      writeGguf(path, meta, modelGgufTensors(model, ggufOuttype("f32")).tensors);
      const back = loadGgufModel(path);
      assert.equal(back.family, model.family);
      const { arch: a, ...rest } = model.config;
      const { arch: b, ...restBack } = back.config;
      // bos/eos come from the tokenizer's metadata, which this file (no tokenizer) lacks.
      const same = { bosTokenId: null, eosTokenIds: [] };
      assert.deepEqual({ ...restBack, ...same }, { ...rest, ...same }, family);
      assert.deepEqual(b, a, family);
      for (const spec of model.specs) {
        const w = model.tensors.get(spec.name)!.data as Float32Array;
        const got = back.tensors.get(spec.name)!.data as Float32Array;
        // A norm comes back as fround(fround(w + 1) − 1), within f32 rounding of 1 + w.
        const tol = spec.shape.length === 1 ? 2 ** -23 : 0;
        for (let i = 0; i < w.length; i++) assert.ok(Math.abs(got[i]! - w[i]!) <= tol, `${family} ${spec.name}[${i}]`);
      }
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
});

test("export refuses the golden Gemma 2 before reading a weight or writing anything", () => {
  const out = join(tmpdir(), `loratune-gemma-refused-${process.pid}`);
  assert.throws(
    () => exportModel({ model: join(GOLDEN, "gemma2", "model"), out }),
    (e: Error & { code?: string }) => e.code === "ERR_UNSUPPORTED" && /query_pre_attn_scalar 24/.test(e.message),
  );
  assert.equal(existsSync(out), false);
});
