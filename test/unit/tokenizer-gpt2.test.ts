/**
 * GPT-2's byte-level BPE through the tokenizer library path (tokenizer.json, @huggingface/tokenizers), on a
 * tokenizer.json laid out as GPT-2's: its 256 base symbols in GPT-2's order (bytes_to_unicode: the printable
 * bytes 33-126, 161-172, 174-255 first as themselves, then the other 68 bytes as U+0100 + n), so single bytes get
 * GPT-2's real ids (" " 220, "\n" 198, "!" 0); <|endoftext|> 50256; a ByteLevel pre-tokenizer without prefix space.
 *
 * The real "Hello world" → [15496, 995] needs GPT-2's 50,000 merges, which are not in the repository and cannot be
 * downloaded here (no model hub). The merges that build "Hello" and "Ġworld" are given instead, with those two
 * tokens placed at 15496 and 995 by this test, which then checks the mechanics: the regex split keeps the space
 * with the word that follows it, merges apply by rank, bytes without a merge stay single base ids, decode inverts.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { Tokenizer } from "../../src/tokenizer/tokenizer.ts";

/** GPT-2's bytes_to_unicode: the symbol of each byte, and the order of GPT-2's first 256 vocabulary ids. */
function gpt2ByteSymbols(): { symbol: string[]; order: number[] } {
  const order: number[] = [];
  for (const [lo, hi] of [
    [33, 126],
    [161, 172],
    [174, 255],
  ] as const) {
    for (let b = lo; b <= hi; b++) order.push(b);
  }
  const symbol = new Array<string>(256);
  for (const b of order) symbol[b] = String.fromCodePoint(b);
  let n = 0;
  for (let b = 0; b < 256; b++) {
    if (symbol[b] !== undefined) continue;
    symbol[b] = String.fromCodePoint(256 + n++);
    order.push(b);
  }
  return { symbol, order };
}

const MERGES = ["H e", "l l", "He ll", "Hell o", "Ġ w", "o r", "Ġw or", "l d", "Ġwor ld"];
const PLACED: Record<string, number> = { Hello: 15496, Ġworld: 995 };

function gpt2StyleTokenizer(): Tokenizer {
  const { symbol, order } = gpt2ByteSymbols();
  const vocab: Record<string, number> = {};
  order.forEach((b, id) => {
    vocab[symbol[b]!] = id;
  });
  let next = 256;
  for (const merge of MERGES) {
    const token = merge.replace(" ", "");
    vocab[token] = PLACED[token] ?? next++;
  }
  vocab["<|endoftext|>"] = 50256;
  const byteLevel = { type: "ByteLevel", add_prefix_space: false, trim_offsets: true, use_regex: true };
  const json = {
    version: "1.0",
    truncation: null,
    padding: null,
    added_tokens: [
      {
        id: 50256,
        content: "<|endoftext|>",
        single_word: false,
        lstrip: false,
        rstrip: false,
        normalized: true,
        special: true,
      },
    ],
    normalizer: null,
    pre_tokenizer: byteLevel,
    post_processor: byteLevel,
    decoder: byteLevel,
    model: {
      type: "BPE",
      dropout: null,
      unk_token: null,
      continuing_subword_prefix: "",
      end_of_word_suffix: "",
      fuse_unk: false,
      byte_fallback: false,
      vocab,
      merges: MERGES,
    },
  };
  // GPT-2's tokenizer_config.json: every special is <|endoftext|>, no BOS added.
  const config = {
    bos_token: "<|endoftext|>",
    eos_token: "<|endoftext|>",
    unk_token: "<|endoftext|>",
    add_prefix_space: false,
  };
  return new Tokenizer({ origin: "mem:gpt2-style", tokenizer: json, config });
}

test("GPT-2's byte order gives single bytes GPT-2's real ids (' ' 220, '\\n' 198, '\\t' 197, '!' 0, 'A' 32)", () => {
  const tok = gpt2StyleTokenizer();
  assert.deepEqual(tok.encodeText(" "), [220]);
  assert.deepEqual(tok.encodeText("\n"), [198]);
  assert.deepEqual(tok.encodeText("\t"), [197]);
  assert.deepEqual(tok.encodeText("!A~"), [0, 32, 93]);
  assert.equal(tok.tokenToId("<|endoftext|>"), 50256);
  assert.equal(tok.vocabSize, 50257);
});

test("byte-level BPE: 'Hello world' splits to Hello + Ġworld and merges by rank to the placed ids; decode inverts", () => {
  const tok = gpt2StyleTokenizer();
  assert.deepEqual(tok.encodeText("Hello world"), [15496, 995]);
  assert.equal(tok.decode([15496, 995]), "Hello world");
  // A leading space is its own byte (Ġ, 220) where no merge joins it to the word.
  assert.deepEqual(tok.encodeText(" Hello"), [220, 15496]);
  // Without "Ġ w" at hand the pieces stay bytes: "world" with no space has merges o r, l d only.
  const wo = tok.tokenToId("or")!;
  const ld = tok.tokenToId("ld")!;
  assert.deepEqual(tok.encodeText("world"), [tok.tokenToId("w"), wo, ld]);
  // Multi-byte UTF-8 is bytes: é = C3 A9 → 'Ã' (127) '©' (102) in GPT-2's base order.
  assert.deepEqual(tok.encodeText("é"), [127, 102]);
  assert.equal(tok.decode([127, 102]), "é");
  for (const s of ["Hello world\n", "  two spaces", "emoji 🙂 ok", "<|endoftext|>Hello"]) {
    assert.equal(tok.decode(tok.encode(s)), s, JSON.stringify(s));
  }
});

test("GPT-2 adds no BOS or EOS by itself; <|endoftext|> is one special id", () => {
  const tok = gpt2StyleTokenizer();
  assert.equal(tok.addBos, false);
  assert.deepEqual(tok.encode("Hello world"), [15496, 995]);
  assert.deepEqual(tok.encodeText("Hello<|endoftext|>"), [15496, 50256]);
  assert.ok(tok.isSpecial(50256));
  assert.equal(tok.decode([15496, 50256], { skipSpecialTokens: true }), "Hello");
});
