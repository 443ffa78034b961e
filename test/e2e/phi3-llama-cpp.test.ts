/**
 * llama.cpp judges `loratune export` of a Phi-3 model (its "phi3" architecture: fused attn_qkv and ffn_up, partial
 * rotary, longrope's rope_factors_long / rope_factors_short and attn_factor; node-llama-cpp, skipped with the
 * reason printed where its prebuilt binary cannot load). The golden tiny phi3's config (2 layers, GQA 4/2,
 * partial_rotary_factor 0.75, longrope with original length 64 of 256) with random weights, since its 96-id
 * vocabulary holds no tokenizer llama.cpp can run: the vocabulary is the SentencePiece-style test tokenizer's.
 * A random LoRA adapter over qkv_proj, o_proj, gate_up_proj and down_proj:
 *  1. llama.cpp tokenizes as loratune does;
 *  2. the f32 GGUF merged with the adapter continues prompts greedily exactly as loratune does with the PEFT
 *     adapter (teacher-forced judging: each token is loratune's argmax but at exact ties);
 *  3. the base GGUF with the GGUF LoRA applied by llama.cpp gives the same tokens, and the adapter changes them;
 *  4. the exported GGUF, sliding_window and longrope included, loads back into loratune with the same logits, past
 *     the original length (long factors) and the window, merged and as base GGUF + GGUF LoRA (without llama.cpp:
 *     never skipped).
 * The greedy runs stay inside what llama.cpp's phi3 shares with transformers: a context no longer than the original
 * length (llama.cpp picks the long factors for a longer context, whatever the positions, and pads every context to
 * 256 cells, so the judged config's original length is 256 rather than the golden 64) and no sliding window
 * (llama.cpp ignores phi3's window: "Phi SWA is currently disabled").
 */
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import type { LlamaModel } from "node-llama-cpp";
import { exportModel } from "../../src/api/export.ts";
import { numberOf } from "../../src/gguf/metadata.ts";
import { readGgufHeader } from "../../src/gguf/reader.ts";
import { writeSafetensors } from "../../src/io/safetensors-write.ts";
import { getKernels } from "../../src/kernels/index.ts";
import { attachLora } from "../../src/lora/adapter.ts";
import { defaultLoraConfig } from "../../src/lora/config.ts";
import { loadAdapter, saveAdapter } from "../../src/lora/peft-files.ts";
import { phi3Arch } from "../../src/model/arch/phi3.ts";
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

const work = mkdtempSync(join(tmpdir(), "loratune-phi3-llama-cpp-"));
const loaded: LlamaModel[] = [];
after(async () => {
  for (const m of loaded) await m.dispose();
  rmSync(work, { recursive: true, force: true });
});

const GOLDEN_CONFIG = join(import.meta.dirname, "..", "fixtures", "golden", "phi3", "model", "config.json");
const CONTEXT = 256; // llama.cpp's smallest context, the judged config's original_max_position_embeddings
const TOKENS = 24;
const PROMPTS = ["The", "Mira the baker lives in Oakford and", "Once upon a time, 3 friends"];
const STRINGS = ["Hello world", "it's 12345 o'clock, isn't it?", "  two  spaces\n\nand\ttabs   "];

/**
 * The golden config with the tokenizer's vocabulary: as it is (`golden`, sliding window and original length 64 of
 * 256), or for llama.cpp's judging: no sliding window and original length 256 of 1024 (RoPE scale 4 still, so the
 * attention factor is not 1), since llama.cpp pads a context to 256 cells and picks the factors by that size.
 */
function writeModelDir(dir: string, vocab: number, golden: boolean): Record<string, unknown> {
  const config = JSON.parse(readFileSync(GOLDEN_CONFIG, "utf8")) as Record<string, unknown>;
  const { sliding_window: _, ...judged } = config;
  const lengths = { max_position_embeddings: 1024, original_max_position_embeddings: CONTEXT };
  const configJson = golden ? { ...config, vocab_size: vocab } : { ...judged, ...lengths, vocab_size: vocab };
  writeFileSync(join(dir, "config.json"), JSON.stringify(configJson));
  return configJson;
}

/** Random phi3 directories (without and with the golden sliding window) and a PEFT adapter over every linear. */
function makeCase(): { dir: string; windowed: string; adapter: string } {
  // Not named "phi3": llama.cpp gives a model whose general.name holds "phi3" or "phi-3" Phi-3's token attributes,
  // by the text of </s>, <unk>, <s> and <|endoftext|>, and refuses a vocabulary without them (the test one).
  const dir = join(work, "tiny-p3");
  const windowed = join(work, "tiny-p3-windowed");
  for (const d of [dir, windowed]) {
    mkdirSync(d);
    writeTestTokenizer(d, "spm");
  }
  const vocab = loadTokenizer(dir).vocabSize;
  const config = parseModelConfig(writeModelDir(dir, vocab, false));
  writeModelDir(windowed, vocab, true);
  const tensors = initModelTensors(config, { seed: 13, std: 0.15, normJitter: 0.1 });
  const file = new Map(
    [...tensors].map(([n, t]) => [n, { dtype: "F32" as const, shape: t.shape, data: t.data as Float32Array }]),
  );
  for (const d of [dir, windowed]) writeSafetensors(join(d, "model.safetensors"), file, { format: "pt" });
  const model = loadModel(dir);
  const rng = new Rng(5);
  const lora = defaultLoraConfig({
    r: 4,
    loraAlpha: 64,
    targetModules: ["qkv_proj", "o_proj", "gate_up_proj", "down_proj"],
    initLoraWeights: false,
  });
  attachLora(model, lora, () => rng.next());
  const adapter = join(work, "adapter");
  saveAdapter(adapter, model, lora, null);
  return { dir, windowed, adapter };
}

const c = makeCase();

async function gguf(path: string): Promise<LlamaModel> {
  const m = await (llama as Exclude<typeof llama, string>).loadModel({ modelPath: path });
  loaded.push(m);
  return m;
}

let oursCache: { model: Model; prompts: number[][] } | null = null;
function ours() {
  if (oursCache === null) {
    const model = loadModel(c.dir);
    loadAdapter(c.adapter, model);
    const tok = loadTokenizer(c.dir);
    oursCache = { model, prompts: PROMPTS.map((p) => tok.encode(p)) };
  }
  return oursCache;
}

function judged(text: string, prompt: number[], theirs: number[]): void {
  assert.equal(theirs.length, TOKENS, `llama.cpp gave ${theirs.length} tokens`);
  assert.ok(prompt.length + TOKENS <= CONTEXT);
  const { mismatches, ties } = judgeGreedy(ours().model, prompt, theirs);
  for (const t of ties) console.log(`# phi3 ${JSON.stringify(text)}: tie at token ${t.at}`);
  assert.deepEqual(mismatches, [], `phi3 ${JSON.stringify(text)}: llama.cpp's tokens are not loratune's greedy choice`);
  assert.ok(ties.length <= 1);
}

test("phi3 f32 GGUF merged with the adapter: llama.cpp tokenizes and continues greedily as loratune does", {
  skip,
}, async () => {
  const out = join(work, "merged");
  exportModel({ model: c.dir, adapter: c.adapter, out, outtype: "f32" });
  const m = await gguf(join(out, "model.gguf"));
  const tok = loadTokenizer(c.dir);
  for (const s of STRINGS) assert.deepEqual([...m.tokenize(s, true)], tok.encodeText(s), JSON.stringify(s));
  for (const [i, prompt] of ours().prompts.entries()) {
    judged(PROMPTS[i]!, prompt, (await llamaGreedy(m, prompt, TOKENS, { contextSize: CONTEXT })).ids);
  }
});

test("phi3 base GGUF + GGUF LoRA in llama.cpp = loratune with the PEFT adapter", { skip }, async () => {
  const out = join(work, "separate");
  exportModel({ model: c.dir, adapter: c.adapter, separateAdapter: true, out, outtype: "f32" });
  const m = await gguf(join(out, "model.gguf"));
  let changed = 0;
  for (const [i, prompt] of ours().prompts.entries()) {
    const lora = join(out, "adapter.gguf");
    const theirs = await llamaGreedy(m, prompt, TOKENS, { lora, contextSize: CONTEXT });
    judged(PROMPTS[i]!, prompt, theirs.ids);
    const base = await llamaGreedy(m, prompt, TOKENS, { contextSize: CONTEXT });
    if (agreeing(base.ids, theirs.ids) < TOKENS) changed++;
  }
  assert.ok(changed > 0, "the adapter changes llama.cpp's output (so the comparison judges it)");
});

test("phi3 GGUF with sliding_window and longrope loads back into loratune with the same logits", () => {
  const out = join(work, "windowed");
  const r = exportModel({ model: c.windowed, adapter: c.adapter, out, outtype: "f32" });
  // llama.cpp's differences are told: it ignores the window and picks the factors by its context size.
  assert.equal(r.notes.length, 2, r.notes.join("\n"));
  assert.match(r.notes[0]!, /llama\.cpp ignores phi3's sliding_window \(10\)/);
  assert.match(r.notes[1]!, /long factors .* longer than 64 tokens/);
  const path = join(out, "model.gguf");
  const meta = readGgufHeader(path).metadata;
  assert.equal(numberOf(meta, "phi3.attention.sliding_window"), 10);
  assert.equal(numberOf(meta, "phi3.rope.dimension_count"), 12);
  assert.equal(numberOf(meta, "phi3.rope.scaling.original_context_length"), 64);
  assert.ok(
    Math.abs(numberOf(meta, "phi3.rope.scaling.attn_factor")! - Math.sqrt(1 + Math.log(4) / Math.log(64))) < 1e-6,
  );
  const back = loadModel(path);
  const merged = loadModel(c.windowed);
  const { longrope: backLong, ...backArch } = phi3Arch(back.config);
  const { longrope: ourLong, ...ourArch } = phi3Arch(merged.config);
  assert.deepEqual(backArch, ourArch);
  assert.deepEqual({ ...backLong!, attentionFactor: 0 }, { ...ourLong!, attentionFactor: 0 });
  assert.ok(Math.abs(backLong!.attentionFactor - ourLong!.attentionFactor) < 1e-6);
  loadAdapter(c.adapter, merged);
  const k = getKernels();
  // 80 positions: past the window (10) and the original length (64, long factors).
  const prompt = Array.from({ length: 80 }, (_, i) => (i * 37 + 5) % back.config.vocabSize);
  const a = feedTokens(k, createSession(back, prompt.length), prompt);
  const b = feedTokens(k, createSession(merged, prompt.length), prompt);
  for (let v = 0; v < a.length; v++) assert.ok(Math.abs(a[v]! - b[v]!) < 1e-3, `logit ${v}: ${a[v]} vs ${b[v]}`);
  // The base GGUF with the GGUF LoRA read back as a loratune adapter: the same logits again.
  const sep = join(work, "windowed-separate");
  exportModel({ model: c.windowed, adapter: c.adapter, separateAdapter: true, out: sep, outtype: "f32" });
  const base = loadModel(join(sep, "model.gguf"));
  loadAdapter(join(sep, "adapter.gguf"), base);
  const d = feedTokens(k, createSession(base, prompt.length), prompt);
  for (let v = 0; v < d.length; v++) assert.ok(Math.abs(d[v]! - b[v]!) < 1e-3, `logit ${v}: ${d[v]} vs ${b[v]}`);
});
