import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import {
  buildSentencePieceBpe,
  byteLevelAlphabet,
  learnMerges,
  trainByteLevelBpe,
  writeTokenizerDir,
} from "../../src/demo/train-bpe.ts";
import { loadTokenizer } from "../../src/tokenizer/load-tokenizer.ts";
import { Tokenizer } from "../../src/tokenizer/tokenizer.ts";
import {
  byteLevelTokenizerJson,
  CHATML_TEMPLATE,
  CORPUS,
  chatmlTokenizer,
  gpt2Tokenizer,
  llama2Tokenizer,
  spTokenizerJson,
  tempDir,
} from "./tokenizer-helpers.ts";

const SAMPLES = [
  "Hello world!",
  "  leading and trailing spaces  ",
  "tabs\tand\nnew\r\nlines\n\n",
  "unicode: héllo wörld, 日本語, emoji 🙂👍🏽, combining e\u0301",
  "What is two plus two? Two plus two is four.",
  "",
];

test("learnMerges: Sennrich's example, highest count first, ties by smallest pair", () => {
  const words = new Map([
    ["low", 5],
    ["lower", 2],
    ["newest", 6],
    ["widest", 3],
  ]);
  const merges = learnMerges(words, 5, 2);
  // e+s and s+t both occur 9 times: "e s" sorts first; then es+t (9), l+o (7) before o+w (7), lo+w (7),
  // then e+w, n+e and w+es tie at 6: "e w" sorts first.
  assert.deepEqual(merges, [
    ["e", "s"],
    ["es", "t"],
    ["l", "o"],
    ["lo", "w"],
    ["e", "w"],
  ]);
  assert.deepEqual(learnMerges(words, 100, 7).length, 4, "minFrequency 7 stops after the 4 merges with count >= 7");
});

test("byte-level trainer is deterministic and writes a GPT-2 style tokenizer.json", () => {
  const a = trainByteLevelBpe(CORPUS, { vocabSize: 400, specialTokens: ["<|endoftext|>"] });
  const b = trainByteLevelBpe(CORPUS, { vocabSize: 400, specialTokens: ["<|endoftext|>"] });
  assert.equal(JSON.stringify(a), JSON.stringify(b));
  assert.equal(a.pre_tokenizer?.type, "ByteLevel");
  assert.equal(a.decoder?.type, "ByteLevel");
  assert.equal(a.model.byte_fallback, false);
  const ids = Object.values(a.model.vocab);
  assert.equal(new Set(ids).size, ids.length, "vocab ids are unique");
  assert.deepEqual(
    [...ids].sort((x, y) => x - y),
    ids.map((_, i) => i),
    "vocab ids are 0..n-1",
  );
  assert.equal(a.added_tokens[0]?.id, ids.length, "special tokens come after the vocabulary");
  assert.ok(a.model.merges.length > 50 && 256 + a.model.merges.length + 1 <= 400);
  // The byte alphabet: printable bytes are themselves, space is Ġ (U+0120), newline Ċ (U+010A).
  const alpha = byteLevelAlphabet();
  assert.equal(alpha[65], "A");
  assert.equal(alpha[32], "Ġ");
  assert.equal(alpha[10], "Ċ");
  assert.equal(new Set(alpha).size, 256);
  const small = trainByteLevelBpe(CORPUS, { vocabSize: 300 });
  assert.deepEqual(small.model.merges, a.model.merges.slice(0, 44), "a smaller vocab is a prefix of the merges");
});

test("byte-level tokenizer: encode/decode round-trips any text, special tokens are single ids", () => {
  const tok = chatmlTokenizer();
  for (const s of SAMPLES) assert.equal(tok.decode(tok.encode(s)), s, JSON.stringify(s));
  const hello = tok.encodeText("Hello world");
  assert.ok(hello.length < "Hello world".length, "merges shorten frequent words");
  const start = tok.tokenToId("<|im_start|>");
  const end = tok.tokenToId("<|im_end|>");
  assert.ok(start !== undefined && end !== undefined);
  const ids = tok.encodeText("<|im_start|>user\nhi<|im_end|>");
  assert.equal(ids[0], start);
  assert.equal(ids[ids.length - 1], end);
  assert.equal(ids.filter((i) => i === start || i === end).length, 2);
  assert.equal(tok.decode(ids, { skipSpecialTokens: true }), "user\nhi");
  assert.ok(tok.isSpecial(start) && !tok.isSpecial(ids[1] as number));
  assert.equal(tok.decode([]), "");
  assert.throws(() => tok.decode([tok.vocabSize]), /outside the vocabulary/);
});

test("SentencePiece-style tokenizer: ▁ prepend, byte fallback for unseen characters, BOS from config", () => {
  const tok = llama2Tokenizer();
  assert.equal(tok.bos?.id, 1);
  assert.equal(tok.eos?.id, 2);
  assert.equal(tok.unk?.id, 0);
  assert.equal(tok.pad, null);
  assert.equal(tok.addBos, true);
  assert.equal(tok.addEos, false);
  const ids = tok.encode("Hello world");
  assert.equal(ids[0], 1);
  const pieces = ids.slice(1).map((i) => tok.idToToken(i));
  assert.equal(pieces.join(""), "▁Hello▁world");
  assert.ok(pieces.includes("▁world"), `merged word token, got ${pieces.join(" ")}`);
  // "ß" never occurs in the corpus: UTF-8 bytes C3 9F.
  const fb = tok.encodeText("ß").map((i) => tok.idToToken(i));
  assert.deepEqual(fb, ["▁", "<0xC3>", "<0x9F>"]);
  for (const s of SAMPLES.slice(0, 5)) {
    const enc = tok.encodeText(s);
    assert.ok(!enc.includes(0), `no <unk> for ${JSON.stringify(s)}`);
    assert.equal(tok.decode(enc), s, JSON.stringify(s));
    assert.equal(tok.decode(tok.encode(s), { skipSpecialTokens: true }), s);
  }
  assert.equal(tok.decode(tok.encode("Hello")), "<s> Hello", "as Llama-2: special tokens kept, one space stripped");
});

test("Metaspace (Mistral-style) variant tokenizes like the Prepend-normalizer one, ▁ only on the first section", () => {
  const a = llama2Tokenizer();
  const b = llama2Tokenizer({}, "metaspace");
  assert.equal(spTokenizerJson("metaspace").pre_tokenizer?.type, "Metaspace");
  const text = "What is two plus two? Four.";
  const pa = a.encodeText(text).map((i) => a.idToToken(i));
  const pb = b.encodeText(text).map((i) => b.idToToken(i));
  assert.deepEqual(pa, pb);
  // After a special token, Llama-2 (legacy) prepends ▁ again; Metaspace with prepend_scheme "first" does not.
  assert.equal(a.idToToken(a.encodeText("</s>hello")[1] as number), "▁hello");
  assert.equal(
    b
      .encodeText("</s>hello")
      .map((i) => b.idToToken(i))[1]
      ?.startsWith("▁"),
    false,
  );
  for (const s of SAMPLES.slice(0, 5)) {
    if (s.startsWith(" ")) continue;
    assert.equal(b.decode(b.encodeText(s)), s);
  }
  // As in HF tokenizers: Metaspace does not prepend ▁ to text that already starts with a space, and the
  // decoder strips one leading space, so one leading space is lost.
  assert.equal(b.decode(b.encodeText("  x")), " x");
});

test("BOS/EOS: config flags win; without them the post-processor's behaviour is used", () => {
  const sp = spTokenizerJson();
  const base = { bos_token: "<s>", eos_token: "</s>", unk_token: "<unk>" };
  const probe = new Tokenizer({ origin: "t", tokenizer: sp, config: base });
  assert.equal(probe.addBos, true, "TemplateProcessing prepends <s>");
  assert.equal(probe.addEos, false);
  const noBos = new Tokenizer({
    origin: "t",
    tokenizer: sp,
    config: { ...base, add_bos_token: false, add_eos_token: true },
  });
  assert.deepEqual(noBos.encode("hi").slice(-1), [2]);
  assert.notEqual(noBos.encode("hi")[0], 1);
  assert.deepEqual(noBos.encode("hi", { eos: false }), noBos.encodeText("hi"));
  const bl = new Tokenizer({
    origin: "t",
    tokenizer: byteLevelTokenizerJson(),
    config: { eos_token: "<|endoftext|>" },
  });
  assert.equal(bl.bos, null);
  assert.equal(bl.addBos, false);
  const withBos = trainByteLevelBpe(CORPUS, {
    vocabSize: 300,
    specialTokens: ["<|begin_of_text|>"],
    bosToken: "<|begin_of_text|>",
  });
  const l3 = new Tokenizer({ origin: "t", tokenizer: withBos, config: { bos_token: "<|begin_of_text|>" } });
  assert.equal(l3.addBos, true, "Llama-3 style: BOS from the post-processor, no add_bos_token key");
  assert.equal(l3.encode("hi")[0], l3.bos?.id);
});

test("special tokens: AddedToken objects, special_tokens_map.json fallback, generation_config stop ids", () => {
  const tj = byteLevelTokenizerJson();
  const end = tj.added_tokens.find((t) => t.content === "<|im_end|>")?.id as number;
  const eot = tj.added_tokens.find((t) => t.content === "<|endoftext|>")?.id as number;
  const tok = new Tokenizer({
    origin: "t",
    tokenizer: tj,
    config: { eos_token: { __type: "AddedToken", content: "<|im_end|>", special: true } },
    specialTokensMap: { pad_token: "<|endoftext|>", eos_token: "<|endoftext|>" },
    generationConfig: { eos_token_id: [end, eot], pad_token_id: eot },
  });
  assert.deepEqual(tok.eos, { text: "<|im_end|>", id: end }, "tokenizer_config.json wins over special_tokens_map.json");
  assert.deepEqual(tok.pad, { text: "<|endoftext|>", id: eot });
  assert.deepEqual(tok.stopIds, [end, eot]);
  const byId = new Tokenizer({ origin: "t", tokenizer: tj, config: {}, generationConfig: { eos_token_id: eot } });
  assert.deepEqual(byId.eos, { text: "<|endoftext|>", id: eot }, "EOS from generation_config's id");
  assert.equal(
    new Tokenizer({ origin: "t", tokenizer: tj, config: { pad_token: "<pad>" } }).pad,
    null,
    "unknown PAD = none",
  );
  assert.throws(
    () => new Tokenizer({ origin: "dirX", tokenizer: tj, config: { bos_token: "<s>" } }),
    (e: Error & { code?: string }) =>
      e.code === "ERR_TOKENIZER" && /dirX\/tokenizer_config\.json: bos_token "<s>"/.test(e.message),
  );
});

test("loadTokenizer reads a model directory; errors name the directory and file", () => {
  const { dir, cleanup } = tempDir();
  try {
    writeTokenizerDir(dir, {
      tokenizer: byteLevelTokenizerJson(),
      config: { eos_token: "<|im_end|>", pad_token: "<|endoftext|>" },
      generationConfig: { eos_token_id: 256 + 1 },
      chatTemplateJinja: CHATML_TEMPLATE,
    });
    const tok = loadTokenizer(dir);
    assert.equal(tok.eos?.text, "<|im_end|>");
    assert.equal(tok.chatTemplate, CHATML_TEMPLATE, "chat_template.jinja is used when the config has none");
    assert.equal(tok.stopIds.length, 2);
    assert.equal(tok.decode(tok.encode("round trip ✓")), "round trip ✓");
    assert.equal(tok.vocabSize, gpt2Tokenizer().vocabSize);
    writeFileSync(join(dir, "tokenizer.json"), "{ not json");
    assert.throws(() => loadTokenizer(dir), /tokenizer\.json: invalid JSON/);
    writeFileSync(join(dir, "tokenizer.json"), JSON.stringify({ model: { type: "Nope" } }));
    assert.throws(() => loadTokenizer(dir), /unsupported or invalid tokenizer/);
  } finally {
    cleanup();
  }
  const empty = tempDir();
  try {
    writeFileSync(join(empty.dir, "tokenizer.model"), "x");
    assert.throws(
      () => loadTokenizer(empty.dir),
      (e: Error & { code?: string }) =>
        e.code === "ERR_TOKENIZER" && /no tokenizer\.json \(only tokenizer\.model/.test(e.message),
    );
  } finally {
    empty.cleanup();
  }
});

test("SentencePiece builder refuses a vocabulary too small for its base symbols", () => {
  assert.throws(() => buildSentencePieceBpe(CORPUS, { vocabSize: 260 }), /cannot hold/);
  assert.throws(() => trainByteLevelBpe(CORPUS, { vocabSize: 100 }), /< 256/);
});
