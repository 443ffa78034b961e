/**
 * llama.cpp judges `loratune export` of the Gemma families (its "gemma", "gemma2" and "gemma3" architectures;
 * node-llama-cpp, skipped with the reason printed where its prebuilt binary cannot load). For each, a random model
 * (norm weights jittered around 0, stored as w and exported as 1 + w; head_dim 32 with 4 heads over hidden 64,
 * 2 KV heads) with a byte-level test tokenizer and a random LoRA adapter over q/k/v/o and the GeGLU MLP:
 *  1. the f32 GGUF merged with the adapter continues prompts greedily exactly as loratune does with the PEFT
 *     adapter (teacher-forced judging: each token is loratune's argmax but at exact ties), past the sliding window
 *     (4 keys) where the family has one, and the GGUF loads back into loratune (a GGUF base) with the same logits;
 *  2. the base GGUF with the GGUF LoRA applied by llama.cpp gives the same tokens, and the adapter changes them.
 * Gemma 2: soft-caps 20 (scores) and 10 (logits), layers 0 sliding and 1 global. Gemma 3: 6 layers (llama.cpp
 * slides five of every six), q/k norms, global RoPE base 1e6 with linear scaling 2, local base 1e4, no soft-caps.
 * Both with query_pre_attn_scalar = head_dim, the scale llama.cpp fixes (models that differ in what llama.cpp
 * fixes are refused: test/unit/gemma-gguf.test.ts).
 */
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import type { LlamaModel } from "node-llama-cpp";
import { exportModel } from "../../src/api/export.ts";
import { writeSafetensors } from "../../src/io/safetensors-write.ts";
import { getKernels } from "../../src/kernels/index.ts";
import { attachLora } from "../../src/lora/adapter.ts";
import { defaultLoraConfig } from "../../src/lora/config.ts";
import { loadAdapter, saveAdapter } from "../../src/lora/peft-files.ts";
import { parseModelConfig } from "../../src/model/config.ts";
import { createSession, feedTokens } from "../../src/model/infer.ts";
import { initModelTensors } from "../../src/model/init.ts";
import { loadModel } from "../../src/model/load.ts";
import type { Model } from "../../src/model/model.ts";
import { Rng } from "../../src/tensor/rng.ts";
import { loadTokenizer } from "../../src/tokenizer/load-tokenizer.ts";
import { writeTestTokenizer } from "../helpers/gguf-models.ts";
import { agreeing, judgeGreedy, llamaGreedy, loadLlamaCpp } from "../helpers/llama-cpp.ts";

const llama = await loadLlamaCpp();
const skip = typeof llama === "string" ? llama : false;
if (skip) console.log(`# llama.cpp tests skipped: ${skip}`);

const work = mkdtempSync(join(tmpdir(), "loratune-gemma-llama-cpp-"));
const loaded: LlamaModel[] = [];
after(async () => {
  for (const m of loaded) await m.dispose();
  rmSync(work, { recursive: true, force: true });
});

const TOKENS = 16;
const PROMPTS = ["The", "Mira the baker lives in Oakford and", "Once upon a time, 3 friends"];

const SHARED = {
  hidden_size: 64,
  intermediate_size: 128,
  num_attention_heads: 4,
  num_key_value_heads: 2,
  head_dim: 32,
  hidden_activation: "gelu_pytorch_tanh",
  max_position_embeddings: 128,
  rms_norm_eps: 1e-6,
  tie_word_embeddings: true,
};

const CASES: Record<string, Record<string, unknown>> = {
  gemma: { ...SHARED, model_type: "gemma", num_hidden_layers: 2, rope_theta: 10000 },
  gemma2: {
    ...SHARED,
    model_type: "gemma2",
    num_hidden_layers: 2,
    rope_theta: 10000,
    query_pre_attn_scalar: 32,
    attn_logit_softcapping: 20,
    final_logit_softcapping: 10,
    sliding_window: 4,
  },
  gemma3: {
    ...SHARED,
    model_type: "gemma3_text",
    num_hidden_layers: 6,
    rope_theta: 1_000_000,
    rope_local_base_freq: 10000,
    rope_scaling: { rope_type: "linear", factor: 2 },
    query_pre_attn_scalar: 32,
    sliding_window: 4,
    sliding_window_pattern: 6,
  },
};

/** A random model directory of `family` and a PEFT adapter over every linear of its blocks. */
function makeCase(family: string): { dir: string; adapter: string } {
  const dir = join(work, family);
  mkdirSync(dir);
  writeTestTokenizer(dir, "smollm");
  const configJson = { ...CASES[family], vocab_size: loadTokenizer(dir).vocabSize };
  writeFileSync(join(dir, "config.json"), JSON.stringify(configJson));
  const config = parseModelConfig(configJson);
  const tensors = initModelTensors(config, { seed: 11, std: 0.15, biasStd: 0.1 });
  const file = new Map(
    [...tensors].map(([n, t]) => [n, { dtype: "F32" as const, shape: t.shape, data: t.data as Float32Array }]),
  );
  writeSafetensors(join(dir, "model.safetensors"), file, { format: "pt" });
  const model = loadModel(dir);
  const rng = new Rng(4);
  const lora = defaultLoraConfig({
    r: 4,
    loraAlpha: 32,
    targetModules: ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
    initLoraWeights: false,
  });
  attachLora(model, lora, () => rng.next());
  const adapter = join(work, `${family}-adapter`);
  saveAdapter(adapter, model, lora, null);
  return { dir, adapter };
}

async function gguf(path: string): Promise<LlamaModel> {
  const m = await (llama as Exclude<typeof llama, string>).loadModel({ modelPath: path });
  loaded.push(m);
  return m;
}

for (const family of Object.keys(CASES)) {
  let cached: { dir: string; adapter: string; model: Model; prompts: number[][] } | null = null;
  const ours = () => {
    if (cached === null) {
      const c = makeCase(family);
      const model = loadModel(c.dir);
      loadAdapter(c.adapter, model);
      const tok = loadTokenizer(c.dir);
      cached = { ...c, model, prompts: PROMPTS.map((p) => tok.encode(p)) };
    }
    return cached;
  };
  const judged = (text: string, prompt: number[], theirs: number[]): void => {
    assert.equal(theirs.length, TOKENS, `llama.cpp gave ${theirs.length} tokens`);
    const { mismatches, ties } = judgeGreedy(ours().model, prompt, theirs);
    for (const t of ties) console.log(`# ${family} ${JSON.stringify(text)}: tie at token ${t.at}`);
    assert.deepEqual(mismatches, [], `${family} ${JSON.stringify(text)}: llama.cpp's tokens are not loratune's`);
    assert.ok(ties.length <= 1);
  };

  test(`${family} f32 GGUF merged with the adapter: llama.cpp continues greedily as loratune does`, {
    skip,
  }, async () => {
    const out = join(work, `${family}-merged`);
    exportModel({ model: ours().dir, adapter: ours().adapter, out, outtype: "f32" });
    const m = await gguf(join(out, "model.gguf"));
    for (const [i, prompt] of ours().prompts.entries()) {
      judged(PROMPTS[i]!, prompt, (await llamaGreedy(m, prompt, TOKENS)).ids);
    }
    // The GGUF reads back as a loratune base model (norms less 1) with the merged model's logits.
    const back = loadModel(join(out, "model.gguf"));
    assert.equal(back.family.name, ours().model.family.name);
    const k = getKernels();
    const prompt = ours().prompts[1]!;
    const a = feedTokens(k, createSession(back, prompt.length), prompt);
    const b = feedTokens(k, createSession(ours().model, prompt.length), prompt);
    for (let v = 0; v < a.length; v++) assert.ok(Math.abs(a[v]! - b[v]!) < 1e-3, `logit ${v}: ${a[v]} vs ${b[v]}`);
  });

  test(`${family} base GGUF + GGUF LoRA in llama.cpp = loratune with the PEFT adapter`, { skip }, async () => {
    const out = join(work, `${family}-separate`);
    exportModel({ model: ours().dir, adapter: ours().adapter, separateAdapter: true, out, outtype: "f32" });
    const m = await gguf(join(out, "model.gguf"));
    let changed = 0;
    for (const [i, prompt] of ours().prompts.entries()) {
      const theirs = await llamaGreedy(m, prompt, TOKENS, { lora: join(out, "adapter.gguf") });
      judged(PROMPTS[i]!, prompt, theirs.ids);
      const base = await llamaGreedy(m, prompt, TOKENS);
      if (agreeing(base.ids, theirs.ids) < TOKENS) changed++;
    }
    assert.ok(changed > 0, "the adapter changes llama.cpp's output (so the comparison judges it)");
  });
}
