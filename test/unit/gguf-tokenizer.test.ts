/**
 * The tokenizer of a GGUF file (src/tokenizer/gguf-tokenizer.ts) against the tokenizer.json it was exported from:
 * for every kind of tokenizer the export writes, and the demo model's, the metadata goes through a real .gguf file
 * and back, and the two tokenizers must agree on a set of texts (ids, decoded text, every single id's text),
 * special tokens, flags, stop ids and chat template. The one kind that cannot agree everywhere (Metaspace) is
 * held to exactly the difference llama.cpp has. Refusals name the file and what was expected.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { type GgufMetadata, type GgufValue, i32s, str, strings, u32 } from "../../src/gguf/metadata.ts";
import { writeGguf } from "../../src/gguf/writer.ts";
import { ggufTokenizerSources, loadGgufTokenizer, tokenizerFromGguf } from "../../src/tokenizer/gguf-tokenizer.ts";
import { ggufVocab } from "../../src/tokenizer/gguf-vocab.ts";
import { loadTokenizer } from "../../src/tokenizer/load-tokenizer.ts";
import { spmMerges } from "../../src/tokenizer/spm-merges.ts";
import type { Tokenizer } from "../../src/tokenizer/tokenizer.ts";
import { type TokenizerKind, writeTestTokenizer } from "../helpers/gguf-models.ts";

const work = mkdtempSync(join(tmpdir(), "loratune-gguf-tok-"));
after(() => rmSync(work, { recursive: true, force: true }));

const DEMO = join(import.meta.dirname, "..", "..", "models", "demo");
/** Rows past the tokenizer's ids: the export pads the vocabulary to the embedding with unused "[PAD<id>]" tokens. */
const PADDING = 9;

const TEXTS = [
  "Hello world",
  "The quick brown fox jumps over the lazy dog.",
  " leading space",
  "  two leading spaces",
  "trailing spaces   ",
  "a  b   c    d",
  "line one\nline two\n\nthree\r\nfour\t tab",
  "café naïve résumé Ångström",
  "日本語のテキスト、中文。",
  "emoji 😀🎉👍🏽 ok",
  "ẞ ǅ ﬁ ∑ ≠ ⅓",
  "123 4567 89012 3.14159 1,000,000",
  "don't I'LL we've THEY'RE",
  "<|im_start|>user\nhi there<|im_end|>\n<|im_start|>assistant\n",
  "text<|endoftext|>more<|pad|>",
  "<s>[INST] hi [/INST] ok</s>",
  "<|begin_of_text|>Hi<|eot_id|>",
  "[PAD505] is only text",
  "   ",
  "\n",
  "x",
];

/** A tokenizer directory of `kind` (the demo model's for "demo"). */
function tokenizerDir(kind: TokenizerKind | "demo"): string {
  if (kind === "demo") return DEMO;
  const dir = join(work, kind);
  writeTestTokenizer(dir, kind);
  return dir;
}

/** The tokenizer metadata export writes for `hf`, through a .gguf file, loaded back. */
function throughGguf(dir: string, hf: Tokenizer, name: string): { tok: Tokenizer; path: string } {
  const { metadata } = ggufVocab(dir, hf, hf.vocabSize + PADDING);
  const path = join(work, `${name}.gguf`);
  writeGguf(path, new Map(metadata), []);
  return { tok: loadGgufTokenizer(path), path };
}

function assertSameTokens(hf: Tokenizer, gg: Tokenizer, text: string, kind: string): void {
  const ids = hf.encodeText(text);
  const show = (t: Tokenizer, xs: number[]) => xs.map((i) => t.idToToken(i)).join("|");
  assert.deepEqual(
    gg.encodeText(text),
    ids,
    `${kind} ${JSON.stringify(text)}: ${show(gg, gg.encodeText(text))} vs ${show(hf, ids)}`,
  );
  if (ids.length > 0) assert.equal(gg.decode(ids), hf.decode(ids), `${kind}: decoding ${JSON.stringify(text)}`);
}

function assertSameSpecials(hf: Tokenizer, gg: Tokenizer, kind: string): void {
  for (const k of ["bos", "eos", "pad", "unk", "addBos", "addEos", "stopIds", "chatTemplate"] as const) {
    assert.deepEqual(gg[k], hf[k], `${kind}: ${k}`);
  }
  assert.deepEqual(gg.addedTokenTexts(), hf.addedTokenTexts(), `${kind}: added tokens`);
  for (let id = 0; id < hf.vocabSize; id++) {
    assert.equal(gg.isSpecial(id), hf.isSpecial(id), `${kind}: id ${id} special`);
    assert.equal(gg.decode([id]), hf.decode([id]), `${kind}: decoding id ${id}`);
  }
}

for (const kind of ["spm", "llama-bpe", "qwen2", "smollm", "demo"] as const) {
  test(`a GGUF ${kind} tokenizer encodes, decodes and names special tokens as its tokenizer.json does`, () => {
    const dir = tokenizerDir(kind);
    const hf = loadTokenizer(dir);
    const { tok: gg, path } = throughGguf(dir, hf, kind);
    assert.equal(gg.vocabSize, hf.vocabSize + PADDING, "one id per row, padding included");
    assert.equal(gg.idToToken(hf.vocabSize), `[PAD${hf.vocabSize}]`);
    for (const text of TEXTS) assertSameTokens(hf, gg, text, kind);
    for (const text of TEXTS) assert.equal(gg.decode(gg.encodeText(text)), hf.decode(hf.encodeText(text)));
    assert.deepEqual(gg.encode("Hi"), hf.encode("Hi"), `${kind}: BOS/EOS added alike`);
    assertSameSpecials(hf, gg, kind);
    assert.equal(gg.origin, path);
  });
}

test("the demo model's second stop id (<|im_end|>) travels as tokenizer.ggml.eot_token_id", () => {
  const hf = loadTokenizer(DEMO);
  const meta = new Map(ggufVocab(DEMO, hf, hf.vocabSize).metadata);
  assert.equal(meta.get("tokenizer.ggml.eot_token_id")?.value, hf.tokenToId("<|im_end|>"));
  assert.deepEqual(tokenizerFromGguf(meta, "demo.gguf").stopIds, hf.stopIds);
});

test("Metaspace (prepend_scheme first): the GGUF tokenizer is llama.cpp's, which puts ▁ before every text piece", () => {
  // A GGUF file does not record whether tokenizer.json prepended "▁" with a normalizer (before every piece of
  // text, after special tokens too, even before a space) or with Metaspace("first") (only at the start, and not
  // before a space); llama.cpp does the former, so the GGUF tokenizer does. The two metadata sets are identical.
  const dir = tokenizerDir("spm-metaspace");
  const hf = loadTokenizer(dir);
  const spm = loadTokenizer(tokenizerDir("spm"));
  const { tok: gg } = throughGguf(dir, hf, "spm-metaspace");
  const asPrepend = new Map(ggufVocab(dir, hf, hf.vocabSize).metadata);
  assert.deepEqual(asPrepend, new Map(ggufVocab(join(work, "spm"), spm, spm.vocabSize).metadata));
  for (const text of TEXTS) assertSameTokens(spm, gg, text, "spm-metaspace as spm");
  const special = /<s>|<\/s>|<unk>|<\|im_start\|>|<\|im_end\|>/;
  for (const text of TEXTS) {
    if (text.startsWith(" ") || special.test(text)) continue;
    assertSameTokens(hf, gg, text, "spm-metaspace");
  }
  // Exactly where they differ: a leading space, and text after a special token.
  assert.deepEqual(gg.encodeText(" leading"), hf.encodeText("  leading"));
  assert.deepEqual(gg.encodeText("<s>hi"), [1, ...hf.encodeText(" hi")]);
  assertSameSpecials(hf, gg, "spm-metaspace");
});

/** Minimal metadata of a byte-level tokenizer over a few tokens. */
function byteLevelMeta(extra: [string, GgufValue][] = []): GgufMetadata {
  const tokens = ["a", "b", "ab", "Ġ", "Ġab", ",", "1", "<|end|>", "Ġ,"];
  return new Map<string, GgufValue>([
    ["tokenizer.ggml.model", str("gpt2")],
    ["tokenizer.ggml.tokens", strings(tokens)],
    ["tokenizer.ggml.token_type", i32s([1, 1, 1, 1, 1, 1, 1, 3, 1])],
    ["tokenizer.ggml.merges", strings(["a b", "Ġ ab", "Ġ ,"])],
    ["tokenizer.ggml.eos_token_id", u32(7)],
    ...extra,
  ]);
}

test("tokenizer models and pre-tokenizers loratune does not know are refused, naming the file", () => {
  const refused = (meta: GgufMetadata, code: string, ...parts: RegExp[]) =>
    assert.throws(
      () => tokenizerFromGguf(meta, "/m/model.gguf"),
      (e: Error & { code?: string }) =>
        e.code === code && /\/m\/model\.gguf/.test(e.message) && parts.every((p) => p.test(e.message)),
    );
  for (const model of ["bert", "t5", "rwkv", "none"]) {
    refused(byteLevelMeta([["tokenizer.ggml.model", str(model)]]), "ERR_UNSUPPORTED", new RegExp(`"${model}"`));
  }
  refused(
    byteLevelMeta([["tokenizer.ggml.pre", str("tekken")]]),
    "ERR_UNSUPPORTED",
    /"tekken"/,
    /llama-bpe/,
    /qwen2/,
    /smollm/,
  );
  const noModel = byteLevelMeta();
  noModel.delete("tokenizer.ggml.model");
  refused(noModel, "ERR_TOKENIZER", /tokenizer\.ggml\.model/);
  const noMerges = byteLevelMeta();
  noMerges.delete("tokenizer.ggml.merges");
  refused(noMerges, "ERR_TOKENIZER", /tokenizer\.ggml\.merges/);
  refused(byteLevelMeta([["tokenizer.ggml.tokens", strings(["a", "b", "a"])]]), "ERR_TOKENIZER", /"a" twice/);
  refused(byteLevelMeta([["tokenizer.ggml.token_type", i32s([1, 1])]]), "ERR_TOKENIZER", /2 entries/);
  refused(byteLevelMeta([["tokenizer.ggml.eos_token_id", str("7")]]), "ERR_TOKENIZER", /eos_token_id/);
});

test("defaults as llama.cpp's: BOS for llama and Llama 3's rules, none for other byte-level rules", () => {
  const plain = tokenizerFromGguf(byteLevelMeta([["tokenizer.ggml.pre", str("qwen2")]]), "q.gguf");
  assert.equal(plain.addBos, false);
  assert.deepEqual(plain.eos, { text: "<|end|>", id: 7 });
  assert.deepEqual(plain.stopIds, [7]);
  const l3 = tokenizerFromGguf(
    byteLevelMeta([
      ["tokenizer.ggml.pre", str("llama-bpe")],
      ["tokenizer.ggml.bos_token_id", u32(5)],
      ["tokenizer.ggml.eot_token_id", u32(6)],
    ]),
    "l3.gguf",
  );
  assert.equal(l3.addBos, true, "llama.cpp adds BOS for llama-bpe unless the file says otherwise");
  assert.deepEqual(l3.stopIds, [7, 6], "EOS, then EOT");
  assert.deepEqual(l3.encode("ab"), [5, 2]);
  const spm = tokenizerFromGguf(
    new Map<string, GgufValue>([
      ["tokenizer.ggml.model", str("llama")],
      ["tokenizer.ggml.tokens", strings(["<unk>", "<s>", "</s>", "▁", "a", "▁a"])],
      ["tokenizer.ggml.token_type", i32s([2, 3, 3, 1, 1, 1])],
    ]),
    "s.gguf",
  );
  assert.deepEqual([spm.unk?.id, spm.bos?.id, spm.eos?.id, spm.addBos, spm.addEos], [0, 1, 2, true, false]);
  assert.deepEqual(spm.encode("a a"), [1, 5, 5], "▁ prepended and spaces as ▁ (add_space_prefix by default)");
  assert.equal(spm.decode([1, 5, 5]), "<s> a a", "the prepended space is stripped once, after BOS: decode as HF");
  // A file without tokenizer.ggml.pre is split by llama.cpp's default rules: punctuation runs on their own, where
  // GPT-2's regex keeps a space with the punctuation after it.
  assert.deepEqual(tokenizerFromGguf(byteLevelMeta(), "d.gguf").encodeText(" ,"), [3, 5]);
  const gpt2 = tokenizerFromGguf(byteLevelMeta([["tokenizer.ggml.pre", str("gpt-2")]]), "g.gguf");
  assert.deepEqual(gpt2.encodeText(" ,"), [8]);
  assert.deepEqual(gpt2.encodeText(" ab"), [4]);
});

test("the chat template: the file's, its named ones, or an override file", () => {
  const meta = byteLevelMeta([
    ["tokenizer.ggml.pre", str("gpt-2")],
    ["tokenizer.chat_template", str("{{ messages[0]['content'] }}")],
    ["tokenizer.chat_template.tool_use", str("tools: {{ messages[0]['content'] }}")],
  ]);
  const msgs = [{ role: "user", content: "hey" }];
  assert.equal(tokenizerFromGguf(meta, "c.gguf").renderChat(msgs), "hey");
  assert.equal(tokenizerFromGguf(meta, "c.gguf", { chatTemplateName: "tool_use" }).renderChat(msgs), "tools: hey");
  const file = join(work, "override.jinja");
  writeFileSync(file, "override {{ messages[0]['content'] }}");
  const path = join(work, "chat.gguf");
  writeGguf(path, meta, []);
  const tok = loadGgufTokenizer(path, { chatTemplateFile: file });
  assert.equal(tok.renderChat(msgs), "override hey");
  assert.equal(tok.chatTemplateOrigin, file);
  const broken = byteLevelMeta([["tokenizer.chat_template", str("{% if %}")]]);
  assert.throws(
    () => tokenizerFromGguf(broken, "b.gguf").renderChat(msgs),
    (e: Error) => /b\.gguf \(tokenizer\.chat_template\)/.test(e.message),
  );
  assert.equal(ggufTokenizerSources(byteLevelMeta(), "n.gguf").config?.chat_template, undefined);
});

test("SentencePiece merges are ordered as transformers orders them: score, then longer left, longer right", () => {
  const pieces = ["<unk>", "a", "b", "c", "ab", "bc", "abc", "ca"];
  const scores = [0, 0, 0, 0, -1, -1, -2, -0.5];
  // "ca" scores highest; "ab" and "bc" tie and keep id order; "abc" splits two ways: (ab, c) has the longer left.
  assert.deepEqual(spmMerges(pieces, scores), [
    ["c", "a"],
    ["a", "b"],
    ["b", "c"],
    ["ab", "c"],
    ["a", "bc"],
  ]);
  assert.deepEqual(spmMerges(["<0x41>", "<", "0x41>"], [0, 0, 0]), [["<", "0x41>"]], "any piece with two pieces");
  assert.deepEqual(spmMerges(["😀", "😀😀"], [0, 0]), [["😀", "😀"]], "code points, not UTF-16 units");
});
