/**
 * llama.cpp judges `loratune export` (node-llama-cpp, pinned; skipped with the reason printed only where its
 * prebuilt binary cannot load). For the golden model of every family (llama with GQA and a SentencePiece-style
 * tokenizer, Llama-3 RoPE scaling with Llama 3's byte-level split, qwen2 with biases, qwen3 with q/k norms) and the
 * bundled demo model:
 *  1. llama.cpp tokenizes plain text, unicode, whitespace runs and special tokens written in the text exactly as
 *     loratune does, with the same BOS, both from tokenizer.json and from the tokenizer read back from the GGUF;
 *  2. the f32 GGUF merged with the family's golden adapter continues prompts greedily exactly as loratune does
 *     with the PEFT adapter, for 32 tokens;
 *  3. the base GGUF with the GGUF LoRA applied by llama.cpp at scale 1 gives the same tokens;
 *  4. f16, bf16 and q8_0 exports: agreement with loratune's f32 output (greedy tokens, probabilities), reported.
 * Each GGUF is exported and loaded once; contexts are small.
 */
import assert from "node:assert/strict";
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import type { LlamaModel } from "node-llama-cpp";
import { exportModel } from "../../src/api/export.ts";
import { availableOuttypes } from "../../src/gguf/outtype.ts";
import { loadAdapter } from "../../src/lora/peft-files.ts";
import { DEMO_MODEL_DIR, loadModel } from "../../src/model/load.ts";
import type { Model } from "../../src/model/model.ts";
import { loadGgufTokenizer } from "../../src/tokenizer/gguf-tokenizer.ts";
import { loadTokenizer } from "../../src/tokenizer/load-tokenizer.ts";
import type { Tokenizer } from "../../src/tokenizer/tokenizer.ts";
import { GOLDEN_MODELS, goldenModelWithTokenizer, writeTestTokenizer } from "../helpers/gguf-models.ts";
import {
  agreeing,
  type Greedy,
  judgeGreedy,
  llamaGreedy,
  loadLlamaCpp,
  maxProbGap,
  ourGreedy,
} from "../helpers/llama-cpp.ts";

const llama = await loadLlamaCpp();
const skip = typeof llama === "string" ? llama : false;
if (skip) console.log(`# llama.cpp tests skipped: ${skip}`);

const work = mkdtempSync(join(tmpdir(), "loratune-llama-cpp-"));
const loaded: LlamaModel[] = [];
after(async () => {
  for (const m of loaded) await m.dispose();
  rmSync(work, { recursive: true, force: true });
});

const PARITY = join(GOLDEN_MODELS, "..", "parity");
const TOKENS = 32;
const PROMPTS = ["The", "Mira the baker lives in Oakford and", "Once upon a time, 3 friends"];
const STRINGS = [
  "Hello world",
  "Mira the baker lives in Oakford.",
  "it's 12345 o'clock, isn't it?",
  "ünïcödé ✓ 日本語 🙂 ñ",
  "  two  spaces\n\nand\ttabs   ",
  "a\n\n\nb   \n c",
  "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n",
];

/**
 * A golden adapter with lora_alpha × 16: the golden ones (B ~ N(0, 0.02)) barely move some models' greedy
 * tokens, and an adapter that changes nothing would judge nothing.
 */
function strongAdapter(parity: string): string {
  const dir = join(work, "adapters", parity);
  mkdirSync(dir, { recursive: true });
  const src = join(PARITY, parity, "adapter");
  copyFileSync(join(src, "adapter_model.safetensors"), join(dir, "adapter_model.safetensors"));
  const config = JSON.parse(readFileSync(join(src, "adapter_config.json"), "utf8"));
  writeFileSync(join(dir, "adapter_config.json"), JSON.stringify({ ...config, lora_alpha: config.lora_alpha * 16 }));
  return dir;
}

/** One model under test: its directory (with a tokenizer), and the golden adapter it is judged with. */
interface Case {
  name: string;
  dir: string;
  adapter: string | null;
}

const CASES: Case[] = skip
  ? []
  : [
      ...[
        ["tiny", "tiny-all-linear"],
        ["tiny-llama3", "tiny-llama3-qv"],
        ["tiny-qwen2", "tiny-qwen2-qv"],
        ["tiny-qwen3", "tiny-qwen3-qv"],
      ].map(([name, parity]) => ({
        name: name!,
        dir: goldenModelWithTokenizer(join(work, "models"), name!),
        adapter: strongAdapter(parity!),
      })),
      { name: "demo", dir: DEMO_MODEL_DIR, adapter: null },
    ];

const ggufs = new Map<string, LlamaModel>();
/** The GGUF at `path`, loaded once. */
async function gguf(path: string): Promise<LlamaModel> {
  let m = ggufs.get(path);
  if (m === undefined) {
    m = await (llama as Exclude<typeof llama, string>).loadModel({ modelPath: path });
    ggufs.set(path, m);
    loaded.push(m);
  }
  return m;
}

/** Exports once per case and kind: "merged-<outtype>" (merged when the case has an adapter) or "separate". */
const exported = new Map<string, string>();
function exportOf(c: Case, kind: string): string {
  const key = `${c.name}/${kind}`;
  if (!exported.has(key)) {
    const out = join(work, "exports", c.name, kind);
    if (kind === "separate")
      exportModel({ model: c.dir, adapter: c.adapter!, separateAdapter: true, out, outtype: "f32" });
    else exportModel({ model: c.dir, ...(c.adapter ? { adapter: c.adapter } : {}), out, outtype: kind.slice(7) });
    exported.set(key, out);
  }
  return exported.get(key)!;
}

/** loratune's side, computed once per case: the model with its PEFT adapter, the tokenizer, greedy f32 outputs. */
const ours = new Map<string, { model: Model; tok: Tokenizer; prompts: number[][]; greedy: Greedy[] }>();
function oursOf(c: Case) {
  if (!ours.has(c.name)) {
    const model: Model = loadModel(c.dir, { dtype: "f32" });
    if (c.adapter) loadAdapter(c.adapter, model);
    const tok = loadTokenizer(c.dir);
    const prompts = PROMPTS.map((p) => tok.encode(p));
    ours.set(c.name, { model, tok, prompts, greedy: prompts.map((p) => ourGreedy(model, p, TOKENS)) });
  }
  return ours.get(c.name)!;
}

/**
 * llama.cpp's greedy tokens must be loratune's: teacher-forced, each is loratune's argmax, except at exact ties
 * (loratune's two best logits within 1e-4, where f32 summation order decides), which are printed.
 */
function judged(c: Case, text: string, prompt: number[], theirs: number[]): void {
  assert.equal(theirs.length, TOKENS, `llama.cpp gave ${theirs.length} tokens`);
  const { mismatches, ties } = judgeGreedy(oursOf(c).model, prompt, theirs);
  for (const t of ties)
    console.log(`# ${c.name} ${JSON.stringify(text)}: tie at token ${t.at} (margin ${t.margin.toExponential(1)})`);
  assert.deepEqual(
    mismatches,
    [],
    `${c.name} ${JSON.stringify(text)}: llama.cpp's tokens are not loratune's greedy choice`,
  );
  assert.ok(ties.length <= 1, `${c.name} ${JSON.stringify(text)}: ${ties.length} ties`);
}

for (const c of CASES.length > 0 ? CASES : [{ name: "every family", dir: "", adapter: null }]) {
  test(`llama.cpp tokenizes as loratune does: ${c.name}`, { skip }, async () => {
    const path = join(exportOf(c, "merged-f32"), "model.gguf");
    const m = await gguf(path);
    const { tok } = oursOf(c);
    // The tokenizer loratune reads back from the GGUF file tokenizes as llama.cpp does too.
    const fromGguf = loadGgufTokenizer(path);
    for (const t of [tok, fromGguf]) {
      if (t.bos) assert.equal(m.tokens.bos, t.bos.id, "BOS id");
      assert.equal(m.tokens.shouldPrependBosToken, t.addBos, "add-BOS flag");
      for (const s of STRINGS) {
        assert.deepEqual([...m.tokenize(s, true)], t.encodeText(s), JSON.stringify(s));
      }
    }
  });

  test(`f32 GGUF${c.adapter ? " merged with the golden adapter" : ""}: llama.cpp's greedy tokens are loratune's: ${c.name}`, {
    skip,
  }, async () => {
    const m = await gguf(join(exportOf(c, "merged-f32"), "model.gguf"));
    const { prompts } = oursOf(c);
    for (const [i, prompt] of prompts.entries()) {
      judged(c, PROMPTS[i]!, prompt, (await llamaGreedy(m, prompt, TOKENS)).ids);
    }
  });

  if (c.adapter !== null || CASES.length === 0) {
    test(`base GGUF + GGUF LoRA at scale 1 in llama.cpp = loratune with the PEFT adapter: ${c.name}`, {
      skip,
    }, async () => {
      const out = exportOf(c, "separate");
      const m = await gguf(join(out, "model.gguf"));
      const { prompts } = oursOf(c);
      let changed = 0;
      for (const [i, prompt] of prompts.entries()) {
        const theirs = await llamaGreedy(m, prompt, TOKENS, { lora: join(out, "adapter.gguf") });
        judged(c, PROMPTS[i]!, prompt, theirs.ids);
        const base = await llamaGreedy(m, prompt, TOKENS);
        if (agreeing(base.ids, theirs.ids) < TOKENS) changed++;
      }
      assert.ok(changed > 0, "the adapter changes llama.cpp's output (so the comparison judges it)");
    });
  }
}

test("f16, bf16, q8_0 exports: how far llama.cpp's greedy output agrees with loratune's f32", { skip }, async () => {
  const rows: string[] = [];
  // The block formats loratune quantizes itself are judged on the same file in gguf-base-llama-cpp.test.ts.
  const outtypes = availableOuttypes().filter((t) => ["f16", "bf16", "q8_0"].includes(t));
  for (const c of CASES) {
    const { prompts, greedy } = oursOf(c);
    for (const outtype of outtypes) {
      const m = await gguf(join(exportOf(c, `merged-${outtype}`), "model.gguf"));
      let agree = 0;
      let gap = 0;
      for (const [i, prompt] of prompts.entries()) {
        const theirs = await llamaGreedy(m, prompt, TOKENS);
        agree += agreeing(theirs.ids, greedy[i]!.ids);
        gap = Math.max(gap, maxProbGap(theirs, greedy[i]!));
      }
      const share = agree / (prompts.length * TOKENS);
      rows.push(`| ${c.name} | ${outtype} | ${(100 * share).toFixed(0)}% | ${gap.toFixed(3)} |`);
      // Reported, not required to be equal: the golden models' weights are random, their next-token probabilities
      // nearly flat (about 1/512), so rounding the weights flips near-ties and the continuations part. A broken
      // layout gives unrelated tokens (agreeing by chance about 1 in 512); the demo test holds the real bound.
      assert.ok(share >= 0.1, `${c.name} ${outtype}: only ${agree} of ${prompts.length * TOKENS} tokens agree`);
    }
  }
  console.log(
    `# llama.cpp on loratune's exports vs loratune f32 (greedy, ${PROMPTS.length} prompts × ${TOKENS} tokens)\n` +
      "| model | outtype | leading tokens equal | max prob. gap on them |\n|---|---|---|---|\n" +
      rows.join("\n"),
  );
});

test("a Metaspace tokenizer (Mistral-style tokenizer.json): plain text as loratune; where llama.cpp differs is said", {
  skip,
}, async () => {
  const dir = join(work, "models", "tiny-metaspace");
  mkdirSync(dir, { recursive: true });
  for (const f of ["config.json", "model.safetensors"]) copyFileSync(join(GOLDEN_MODELS, "tiny", f), join(dir, f));
  writeTestTokenizer(dir, "spm-metaspace");
  const out = join(work, "exports", "tiny-metaspace");
  const r = exportModel({ model: dir, out, outtype: "f32" });
  assert.ok(
    r.notes.some((n) => /Metaspace \(prepend_scheme "first"\).*llama.cpp adds it before every text piece/.test(n)),
  );
  const m = await gguf(join(out, "model.gguf"));
  const tok = loadTokenizer(dir);
  // Texts that start with no space and hold no special token: the prefix "▁" is added once, as in llama.cpp.
  for (const s of STRINGS.filter((t) => !/^\s/.test(t) && !t.includes("<|"))) {
    assert.deepEqual([...m.tokenize(s, true)], tok.encodeText(s), JSON.stringify(s));
  }
  // The tokenizer read back from the GGUF file is llama.cpp's on every text, those included.
  const fromGguf = loadGgufTokenizer(join(out, "model.gguf"));
  for (const s of STRINGS) assert.deepEqual([...m.tokenize(s, true)], fromGguf.encodeText(s), JSON.stringify(s));
});
