import assert from "node:assert/strict";
import { test } from "node:test";
import { commonPrefix } from "../../src/data/encode.ts";
import { TokenizedText } from "../../src/data/token-offsets.ts";
import type { Tokenizer } from "../../src/tokenizer/tokenizer.ts";
import { modelTokenizer } from "./tokenizer-chat-models.ts";
import { chatmlTokenizer, llama2Tokenizer } from "./tokenizer-helpers.ts";

function conversation(turns: number): { role: string; content: string }[] {
  const out = [{ role: "system", content: "Be brief." }];
  for (let i = 0; i < turns; i++) {
    out.push({ role: "user", content: `What is ${i} plus two? Hello world.` });
    out.push({ role: "assistant", content: `The answer is ${i + 2}, the quick brown fox.` });
  }
  return out;
}

/** The reference: tokenize everything before `pos` and compare with the whole text's tokens. */
function bruteForce(tok: Tokenizer, ids: number[], text: string, pos: number) {
  const head = tok.encodeText(text.slice(0, pos));
  const k = commonPrefix(head, ids);
  return { before: k, exact: head.length === k };
}

const TOKENIZERS: [string, () => Tokenizer][] = [
  ["byte-level (ChatML)", () => chatmlTokenizer()],
  ["SentencePiece, Prepend normalizer (Llama-2)", () => llama2Tokenizer()],
  ["SentencePiece, Metaspace first (Mistral v0.3)", () => modelTokenizer("mistral-v0.3")],
  ["SentencePiece + added tokens (Phi-3)", () => modelTokenizer("phi3")],
];

for (const [name, make] of TOKENIZERS) {
  test(`TokenizedText.position agrees with whole-prefix tokenization at every character: ${name}`, () => {
    const tok = make();
    const text = tok.applyChatTemplate(conversation(2));
    const tt = new TokenizedText(tok, text);
    assert.deepEqual(tt.ids, tok.encodeText(text));
    for (let pos = 0; pos <= text.length; pos++) {
      const want = bruteForce(tok, tt.ids, text, pos);
      assert.deepEqual(tt.position(pos), want, `position ${pos} (${JSON.stringify(text.slice(pos - 5, pos + 5))})`);
      assert.equal(tt.tokensCovering(pos), want.exact ? want.before : want.before + 1);
    }
  });
}

test("TokenizedText: locating one position per turn tokenizes text linear in the conversation's length", () => {
  for (const [name, make] of TOKENIZERS) {
    const tok = make();
    const encode = tok.encodeText.bind(tok);
    let chars = 0;
    tok.encodeText = (t: string) => {
      chars += t.length;
      return encode(t);
    };
    const text = tok.applyChatTemplate(conversation(40));
    const tt = new TokenizedText(tok, text);
    chars = 0;
    // Two positions per assistant turn, as the chat masks ask: in the middle of each assistant reply.
    let from = 0;
    for (let i = 0; i < 40; i++) {
      const at = text.indexOf("quick", from);
      tt.position(at);
      tt.tokensCovering(at + 3);
      from = at + 1;
    }
    // Whole-prefix tokenization would read ~40 × text.length / 2 characters; segments read each turn about twice.
    assert.ok(chars < 4 * text.length, `${name}: ${chars} characters tokenized for a text of ${text.length}`);
  }
});
