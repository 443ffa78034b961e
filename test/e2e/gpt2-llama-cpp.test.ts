/**
 * llama.cpp judges `loratune export` of a GPT-2 model (its "gpt2" architecture: position_embd, LayerNorm with
 * bias, attn_qkv, GELU; node-llama-cpp, skipped with the reason printed where its prebuilt binary cannot load).
 * A random GPT-2 (Conv1D weights [in, out] in the safetensors file) with a byte-level test tokenizer and a random
 * LoRA adapter over c_attn, c_proj and c_fc:
 *  1. llama.cpp tokenizes as loratune does;
 *  2. the f32 GGUF merged with the adapter continues prompts greedily exactly as loratune does with the PEFT
 *     adapter (teacher-forced judging: each token is loratune's argmax but at exact ties);
 *  3. the base GGUF with the GGUF LoRA applied by llama.cpp gives the same tokens, and the adapter changes them;
 *  4. the exported GGUF loads back into loratune (a GGUF base) with the same logits.
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

const work = mkdtempSync(join(tmpdir(), "loratune-gpt2-llama-cpp-"));
const loaded: LlamaModel[] = [];
after(async () => {
  for (const m of loaded) await m.dispose();
  rmSync(work, { recursive: true, force: true });
});

const TOKENS = 24;
const PROMPTS = ["The", "Mira the baker lives in Oakford and", "Once upon a time, 3 friends"];
const STRINGS = ["Hello world", "it's 12345 o'clock, isn't it?", "ünïcödé ✓ 🙂", "  two  spaces\n\nand\ttabs   "];

/** A random GPT-2 directory (file layout as transformers saves it) and a PEFT adapter over every Conv1D. */
function makeCase(): { dir: string; adapter: string } {
  const dir = join(work, "gpt2");
  mkdirSync(dir);
  writeTestTokenizer(dir, "smollm");
  const vocab = loadTokenizer(dir).vocabSize;
  const configJson = {
    model_type: "gpt2",
    n_embd: 64,
    n_layer: 2,
    n_head: 4,
    n_positions: 128,
    vocab_size: vocab,
    layer_norm_epsilon: 1e-5,
    activation_function: "gelu_new",
  };
  writeFileSync(join(dir, "config.json"), JSON.stringify(configJson));
  const config = parseModelConfig(configJson);
  const tensors = initModelTensors(config, { seed: 11, std: 0.15, normJitter: 0.1, biasStd: 0.05 });
  const file = new Map(
    [...tensors].map(([n, t]) => [n, { dtype: "F32" as const, shape: t.shape, data: t.data as Float32Array }]),
  );
  writeSafetensors(join(dir, "model.safetensors"), file, { format: "pt" });
  const model = loadModel(dir);
  const rng = new Rng(4);
  const lora = defaultLoraConfig({
    r: 4,
    loraAlpha: 64,
    targetModules: ["c_attn", "c_proj", "c_fc"],
    initLoraWeights: false,
  });
  attachLora(model, lora, () => rng.next());
  const adapter = join(work, "adapter");
  saveAdapter(adapter, model, lora, null);
  return { dir, adapter };
}

const c = skip ? null : makeCase();

async function gguf(path: string): Promise<LlamaModel> {
  const m = await (llama as Exclude<typeof llama, string>).loadModel({ modelPath: path });
  loaded.push(m);
  return m;
}

let oursCache: { model: Model; prompts: number[][] } | null = null;
function ours() {
  if (oursCache === null) {
    const model = loadModel(c!.dir);
    loadAdapter(c!.adapter, model);
    const tok = loadTokenizer(c!.dir);
    oursCache = { model, prompts: PROMPTS.map((p) => tok.encode(p)) };
  }
  return oursCache;
}

function judged(text: string, prompt: number[], theirs: number[]): void {
  assert.equal(theirs.length, TOKENS, `llama.cpp gave ${theirs.length} tokens`);
  const { mismatches, ties } = judgeGreedy(ours().model, prompt, theirs);
  for (const t of ties) console.log(`# gpt2 ${JSON.stringify(text)}: tie at token ${t.at}`);
  assert.deepEqual(mismatches, [], `gpt2 ${JSON.stringify(text)}: llama.cpp's tokens are not loratune's greedy choice`);
  assert.ok(ties.length <= 1);
}

test("gpt2 f32 GGUF merged with the adapter: llama.cpp tokenizes and continues greedily as loratune does", {
  skip,
}, async () => {
  const out = join(work, "merged");
  exportModel({ model: c!.dir, adapter: c!.adapter, out, outtype: "f32" });
  const m = await gguf(join(out, "model.gguf"));
  const tok = loadTokenizer(c!.dir);
  for (const s of STRINGS) assert.deepEqual([...m.tokenize(s, true)], tok.encodeText(s), JSON.stringify(s));
  for (const [i, prompt] of ours().prompts.entries()) {
    judged(PROMPTS[i]!, prompt, (await llamaGreedy(m, prompt, TOKENS)).ids);
  }
  // The GGUF reads back as a loratune base model with the merged model's logits.
  const back = loadModel(join(out, "model.gguf"));
  const k = getKernels();
  const prompt = ours().prompts[1]!;
  const a = feedTokens(k, createSession(back, prompt.length), prompt);
  const b = feedTokens(k, createSession(ours().model, prompt.length), prompt);
  for (let v = 0; v < a.length; v++) assert.ok(Math.abs(a[v]! - b[v]!) < 1e-3, `logit ${v}: ${a[v]} vs ${b[v]}`);
});

test("gpt2 base GGUF + GGUF LoRA in llama.cpp = loratune with the PEFT adapter", { skip }, async () => {
  const out = join(work, "separate");
  exportModel({ model: c!.dir, adapter: c!.adapter, separateAdapter: true, out, outtype: "f32" });
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
