/**
 * phi3's llama.cpp naming (src/model/arch/phi3-gguf.ts) without llama.cpp: every tensor has a GGUF name that maps
 * back, the metadata and factor tensors read back as the same config (Phi-4-mini-like partial rotary, longrope,
 * sliding window; plain RoPE), and what llama.cpp's phi3 cannot hold is refused naming it.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { type GgufMetadata, u32 } from "../../src/gguf/metadata.ts";
import { phi3Gguf } from "../../src/model/arch/phi3-gguf.ts";
import type { GgufModelView } from "../../src/model/arch/spec.ts";
import { type ModelConfig, parseModelConfig } from "../../src/model/config.ts";
import { modelParamSpecs } from "../../src/model/specs.ts";

const BASE = {
  model_type: "phi3",
  vocab_size: 96,
  hidden_size: 64,
  num_hidden_layers: 2,
  num_attention_heads: 4,
  num_key_value_heads: 2,
  intermediate_size: 48,
  max_position_embeddings: 256,
  rms_norm_eps: 1e-5,
  rope_theta: 10000,
  bos_token_id: 1,
  eos_token_id: 2,
};
const LONGROPE = {
  ...BASE,
  original_max_position_embeddings: 64,
  partial_rotary_factor: 0.75,
  rope_scaling: {
    type: "longrope",
    short_factor: [1.0, 1.1, 1.3, 1.7, 2.5, 4.0],
    long_factor: [1.5, 2.0, 3.0, 5.0, 8.0, 13.0],
  },
  sliding_window: 10,
};

/** The GGUF file export writes for `c`, as configJson sees it (tensor shapes from the specs and extra tensors). */
function viewOf(c: ModelConfig, drop: string[] = []): GgufModelView {
  const metadata: GgufMetadata = new Map(phi3Gguf.metadata(c));
  metadata.set("tokenizer.ggml.bos_token_id", u32(1));
  metadata.set("tokenizer.ggml.eos_token_id", u32(2));
  const shapes = new Map<string, number[]>();
  const values = new Map<string, Float32Array>();
  for (const s of modelParamSpecs(c)) shapes.set(phi3Gguf.tensorName(s.name)!, s.shape);
  for (const e of phi3Gguf.extraTensors(c)) {
    shapes.set(e.name, e.shape);
    values.set(e.name, e.values);
  }
  for (const d of drop) shapes.delete(d);
  return { path: "m.gguf", metadata, shape: (n) => shapes.get(n), f32: (n) => values.get(n)! };
}

test("phi3 tensors: GGUF names (fused attn_qkv, ffn_up) and their inverses", () => {
  const c = parseModelConfig(LONGROPE);
  const names = modelParamSpecs(c).map((s) => phi3Gguf.tensorName(s.name));
  assert.ok(names.includes("blk.1.attn_qkv.weight") && names.includes("blk.0.ffn_up.weight"));
  assert.ok(names.includes("output.weight") && names.includes("token_embd.weight"));
  for (const s of modelParamSpecs(c)) {
    assert.equal(phi3Gguf.hfTensorName(phi3Gguf.tensorName(s.name)!), s.name);
    assert.equal(phi3Gguf.permuteHeads(s.name, c), null, "NEOX RoPE: rows are kept");
  }
  assert.equal(phi3Gguf.tensorName("model.layers.0.self_attn.q_proj.weight"), null);
  assert.deepEqual(
    phi3Gguf.extraTensors(c).map((e) => [e.name, e.shape]),
    [
      ["rope_factors_long.weight", [6]],
      ["rope_factors_short.weight", [6]],
    ],
  );
});

test("phi3 GGUF metadata reads back as the same config: longrope, partial rotary, window; plain RoPE", () => {
  for (const raw of [LONGROPE, BASE]) {
    const c = parseModelConfig(raw);
    const back = parseModelConfig(phi3Gguf.configJson(viewOf(c)));
    const { arch: a, ...rest } = c;
    const { arch: b, ...backRest } = back;
    assert.deepEqual(backRest, rest);
    const strip = (x: unknown) => JSON.parse(JSON.stringify(x, (k, v) => (k === "attentionFactor" ? 0 : v)));
    assert.deepEqual(strip(b), strip(a));
    const fa = (x: unknown) => (x as { longrope: { attentionFactor: number } | null }).longrope?.attentionFactor ?? 1;
    assert.ok(Math.abs(fa(b) - fa(a)) < 1e-6);
  }
  const plain = new Map(phi3Gguf.metadata(parseModelConfig(BASE)));
  assert.equal(plain.has("phi3.rope.scaling.attn_factor"), false);
  assert.deepEqual(plain.get("phi3.rope.scaling.original_context_length"), plain.get("phi3.context_length"));
  assert.deepEqual(plain.get("phi3.attention.sliding_window"), { type: "u32", value: 0 });
});

test("phi3 GGUF refusals name what llama.cpp's phi3 cannot hold", () => {
  const wide = parseModelConfig({ ...BASE, head_dim: 32 });
  assert.throws(
    () => phi3Gguf.metadata(wide),
    (e: Error & { code?: string }) =>
      e.code === "ERR_UNSUPPORTED" && /num_attention_heads × head_dim \(4 × 32\) = hidden_size \(64\)/.test(e.message),
  );
  const c = parseModelConfig(LONGROPE);
  assert.throws(
    () => phi3Gguf.configJson(viewOf(c, ["rope_factors_short.weight"])),
    (e: Error & { code?: string }) =>
      e.code === "ERR_GGUF" && /m\.gguf: rope_factors_long\.weight without rope_factors_short\.weight/.test(e.message),
  );
});
