import assert from "node:assert/strict";
import { test } from "node:test";
import { alpacaPrompt, type EncodeInfo, type EncodeOptions, type Example, encodeRow } from "../../src/data/encode.ts";
import type { Row } from "../../src/data/shapes.ts";
import { trainByteLevelBpe } from "../../src/demo/train-bpe.ts";
import { Tokenizer } from "../../src/tokenizer/tokenizer.ts";
import {
  byteLevelTokenizerJson,
  CORPUS,
  chatmlTokenizer,
  gpt2Tokenizer,
  llama2Tokenizer,
  maskRuns,
  maskTextRuns,
} from "./tokenizer-helpers.ts";

const SRC = { file: "train.jsonl", line: 12 };

function enc(row: Row, tok: Tokenizer, opts: EncodeOptions = {}, info?: EncodeInfo): Example {
  const ex = encodeRow(row, tok, opts, SRC, info);
  assert.equal(ex.ids.length, ex.labels.length);
  for (let t = 0; t < ex.ids.length; t++) {
    const l = ex.labels[t];
    assert.ok(l === -100 || l === ex.ids[t], `label ${t} is -100 or the token itself`);
  }
  return ex;
}

const CONV = [
  { role: "system", content: "Be brief." },
  { role: "user", content: "What is two plus two?" },
  { role: "assistant", content: "Four." },
  { role: "user", content: "And the capital of France?" },
  { role: "assistant", content: "Paris." },
];

test("text: every token after the first is a label, EOS appended; BOS first with a Llama-2 tokenizer", () => {
  const g = gpt2Tokenizer();
  const ex = enc({ shape: "text", text: "Hello world" }, g);
  const eos = g.eos?.id as number;
  assert.deepEqual(ex.ids, [...g.encodeText("Hello world"), eos]);
  assert.deepEqual(ex.labels, [-100, ...ex.ids.slice(1)]);
  assert.deepEqual(enc({ shape: "text", text: "Hello world" }, g, { textEos: false }).ids, g.encodeText("Hello world"));
  const l = llama2Tokenizer();
  const ex2 = enc({ shape: "text", text: "Hello world" }, l);
  assert.deepEqual(maskRuns(ex2, l), [
    ["masked", "<s>"],
    ["LOSS", "▁Hello▁world</s>"],
  ]);
});

test("prompt/completion: loss on the completion and EOS only (byte-level, exact ids)", () => {
  const g = gpt2Tokenizer();
  const prompt = "Q: What is two plus two?\nA:";
  const ex = enc({ shape: "prompt_completion", prompt, completion: " Four." }, g);
  const p = g.encodeText(prompt);
  const c = g.encodeText(" Four.");
  const eos = g.eos?.id as number;
  assert.deepEqual(ex.ids, [...p, ...c, eos]);
  assert.deepEqual(ex.labels, [...p.map(() => -100), ...c, eos]);
  const all = enc({ shape: "prompt_completion", prompt, completion: " Four." }, g, { trainOnPrompt: true });
  assert.deepEqual(all.labels, [-100, ...all.ids.slice(1)]);
});

test("prompt/completion: Llama-2 style — BOS masked, ▁ of the completion word is a label, no extra ▁", () => {
  const l = llama2Tokenizer();
  const ex = enc({ shape: "prompt_completion", prompt: "What is two plus two?", completion: " Four." }, l);
  assert.deepEqual(maskRuns(ex, l), [
    ["masked", "<s>▁What▁is▁two▁plus▁two?"],
    ["LOSS", "▁Four.</s>"],
  ]);
});

test("prompt/completion: a token straddling the boundary belongs to the completion", () => {
  const g = gpt2Tokenizer();
  const world = g.tokenToId("Ġworld");
  assert.ok(world !== undefined, "precondition: the corpus made ' world' one token");
  const ex = enc({ shape: "prompt_completion", prompt: "Hello wor", completion: "ld" }, g);
  assert.deepEqual(maskRuns(ex, g), [
    ["masked", "Hello"],
    ["LOSS", "Ġworld<|endoftext|>"],
  ]);
});

test("alpaca: the documented prompt, with and without input; loss on output + EOS", () => {
  assert.equal(
    alpacaPrompt("Add the numbers.", "2, 3"),
    "Below is an instruction that describes a task, paired with an input that provides further context. " +
      "Write a response that appropriately completes the request.\n\n### Instruction:\nAdd the numbers.\n\n" +
      "### Input:\n2, 3\n\n### Response:\n",
  );
  assert.equal(
    alpacaPrompt("Say hi $& {input}", ""),
    "Below is an instruction that describes a task. Write a response that appropriately completes the request." +
      "\n\n### Instruction:\nSay hi $& {input}\n\n### Response:\n",
  );
  const g = gpt2Tokenizer();
  const ex = enc({ shape: "alpaca", instruction: "Add the numbers.", input: "2, 3", output: "5" }, g);
  assert.deepEqual(maskTextRuns(ex, g), [
    ["masked", alpacaPrompt("Add the numbers.", "2, 3")],
    ["LOSS", "5<|endoftext|>"],
  ]);
});

test("messages, ChatML: assistant content + <|im_end|> carry loss; headers, user turns and the \\n after do not", () => {
  const c = chatmlTokenizer();
  const info = { eosInserted: 0 };
  const ex = enc({ shape: "messages", messages: CONV }, c, {}, info);
  assert.deepEqual(maskTextRuns(ex, c), [
    [
      "masked",
      "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nWhat is two plus two?<|im_end|>\n<|im_start|>assistant\n",
    ],
    ["LOSS", "Four.<|im_end|>"],
    ["masked", "\n<|im_start|>user\nAnd the capital of France?<|im_end|>\n<|im_start|>assistant\n"],
    ["LOSS", "Paris.<|im_end|>"],
    ["masked", "\n"],
  ]);
  assert.equal(info.eosInserted, 0);
  // Token by token: the ids are exactly the tokenization of the rendered conversation.
  assert.deepEqual(ex.ids, c.encodeText(c.applyChatTemplate(CONV)));
  const end = c.tokenToId("<|im_end|>");
  const trained = ex.ids.filter((_, t) => ex.labels[t] !== -100);
  assert.deepEqual(trained, [...c.encodeText("Four."), end, ...c.encodeText("Paris."), end]);
});

test("messages, Llama-2 template: [INST] blocks masked, ' answer </s>' trained", () => {
  const l = llama2Tokenizer();
  const ex = enc({ shape: "messages", messages: CONV }, l);
  const runs = maskRuns(ex, l);
  assert.deepEqual(
    runs.map(([k]) => k),
    ["masked", "LOSS", "masked", "LOSS"],
  );
  assert.equal(runs[1]?.[1], "▁Four.▁</s>");
  assert.equal(runs[2]?.[1], "<s>▁[INST]▁<0x41>nd▁the▁capital▁of▁France?▁[/INST]");
  assert.equal(runs[3]?.[1], "▁Paris.▁</s>");
  assert.ok(runs[0]?.[1].startsWith("<s>▁[INST]▁<<S") && runs[0]?.[1].endsWith("two?▁[/INST]"));
  const all = enc({ shape: "messages", messages: CONV }, l, { trainOnAllMessages: true });
  assert.deepEqual(all.ids, ex.ids);
  assert.deepEqual(all.labels, [-100, ...all.ids.slice(1)]);
});

const LLAMA3_TEMPLATE =
  "{% set loop_messages = messages %}{% for message in loop_messages %}" +
  "{% set content = '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n'+ message['content'] | trim + '<|eot_id|>' %}" +
  "{% if loop.index0 == 0 %}{% set content = bos_token + content %}{% endif %}{{ content }}{% endfor %}" +
  "{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}{% endif %}";

test("messages, Llama-3 template: BOS comes from the template only (never doubled), <|eot_id|> trained", () => {
  const specials = ["<|begin_of_text|>", "<|end_of_text|>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"];
  const tj = trainByteLevelBpe(CORPUS, { vocabSize: 400, specialTokens: specials, bosToken: "<|begin_of_text|>" });
  const tok = new Tokenizer({
    origin: "mem:llama3",
    tokenizer: tj,
    config: { bos_token: "<|begin_of_text|>", eos_token: "<|end_of_text|>", chat_template: LLAMA3_TEMPLATE },
  });
  assert.equal(tok.addBos, true, "plain text gets BOS from the post-processor");
  const info = { eosInserted: 0 };
  const ex = enc({ shape: "messages", messages: CONV.slice(1, 3) }, tok, {}, info);
  assert.deepEqual(maskTextRuns(ex, tok), [
    [
      "masked",
      "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nWhat is two plus two?<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n",
    ],
    ["LOSS", "Four.<|eot_id|>"],
  ]);
  assert.equal(ex.ids.filter((id) => id === tok.bos?.id).length, 1);
  assert.equal(info.eosInserted, 0, "<|eot_id|> is a special token closing the turn");
});

test("messages: EOS is inserted after an assistant turn the template does not end", () => {
  const plain =
    "{% for m in messages %}{{ m['role'] }}: {{ m['content'] }}\n{% endfor %}{% if add_generation_prompt %}assistant:{% endif %}";
  const tok = new Tokenizer({
    origin: "mem:plain",
    tokenizer: byteLevelTokenizerJson(),
    config: { eos_token: "<|endoftext|>", chat_template: plain },
  });
  const info = { eosInserted: 0 };
  const ex = enc({ shape: "messages", messages: CONV.slice(1, 3) }, tok, {}, info);
  assert.deepEqual(maskTextRuns(ex, tok), [
    ["masked", "user: What is two plus two?\nassistant:"],
    ["LOSS", " Four.\n<|endoftext|>"],
  ]);
  assert.equal(info.eosInserted, 1);
});

test("messages: a generation_config stop id ends the turn even when it is not a special token", () => {
  const tj = structuredClone(byteLevelTokenizerJson());
  const marker = tj.added_tokens.find((t) => t.content === "<|im_end|>");
  assert.ok(marker);
  marker.special = false; // an added, non-special end-of-turn marker
  const tpl =
    "{% for m in messages %}{{ m['role'] }}: {{ m['content'] }}<|im_end|>\n{% endfor %}{% if add_generation_prompt %}assistant:{% endif %}";
  const config = { eos_token: "<|endoftext|>", chat_template: tpl };
  const row: Row = { shape: "messages", messages: CONV.slice(1, 3) };
  const info = { eosInserted: 0 };
  const withStop = new Tokenizer({
    origin: "m",
    tokenizer: tj,
    config,
    generationConfig: { eos_token_id: [marker.id] },
  });
  assert.deepEqual(maskTextRuns(enc(row, withStop, {}, info), withStop).at(-2), ["LOSS", " Four.<|im_end|>"]);
  assert.equal(info.eosInserted, 0);
  const noStop = new Tokenizer({ origin: "m", tokenizer: tj, config });
  assert.deepEqual(maskTextRuns(enc(row, noStop, {}, info), noStop).at(-1), [
    "LOSS",
    " Four.<|im_end|>\n<|endoftext|>",
  ]);
  assert.equal(info.eosInserted, 1);
});

test("messages: a template that renders the last turn differently from history gets each turn's own mask", () => {
  const tpl =
    "{% for m in messages %}{% if loop.last %}LAST {% endif %}{{ m['role'] }}: {{ m['content'] }}\n{% endfor %}" +
    "{% if add_generation_prompt %}assistant:{% endif %}";
  const tok = new Tokenizer({
    origin: "mem",
    tokenizer: byteLevelTokenizerJson(),
    config: { eos_token: "<|endoftext|>", chat_template: tpl },
  });
  const info = { eosInserted: 0 };
  const ex = enc({ shape: "messages", messages: CONV }, tok, {}, info);
  assert.deepEqual(maskTextRuns(ex, tok), [
    ["masked", "system: Be brief.\nuser: What is two plus two?\nassistant:"],
    ["LOSS", " Four.\n<|endoftext|>"],
    ["masked", "user: And the capital of France?\nLAST assistant:"],
    ["LOSS", " Paris.\n<|endoftext|>"],
  ]);
  assert.equal(info.eosInserted, 2);
  const l = llama2Tokenizer();
  assert.throws(
    () => encodeRow({ shape: "messages", messages: [{ role: "assistant", content: "x" }] }, l, {}, SRC),
    (e: Error) => /^train\.jsonl:12: .*roles must alternate/.test(e.message),
  );
});

test("tokens: used as is; labels default to input_ids; ids outside the vocabulary are refused", () => {
  const g = gpt2Tokenizer();
  assert.deepEqual(enc({ shape: "tokens", inputIds: [5, 6, 7], labels: null }, g), {
    ids: [5, 6, 7],
    labels: [5, 6, 7],
  });
  assert.deepEqual(enc({ shape: "tokens", inputIds: [5, 6, 7], labels: [-100, -100, 7] }, g), {
    ids: [5, 6, 7],
    labels: [-100, -100, 7],
  });
  assert.throws(
    () => encodeRow({ shape: "tokens", inputIds: [5, g.vocabSize], labels: null }, g, {}, SRC),
    new RegExp(`train\\.jsonl:12: input_ids\\[1\\] = ${g.vocabSize} is outside the vocabulary \\[0, ${g.vocabSize}\\)`),
  );
  assert.throws(
    () =>
      encodeRow({ shape: "tokens", inputIds: [5], labels: [g.vocabSize + 3] }, g, { vocabSize: g.vocabSize + 3 }, SRC),
    /labels\[0\] = \d+ is outside the vocabulary/,
  );
  // vocabSize (the model's) overrides the tokenizer's: a padded embedding may accept more ids.
  assert.deepEqual(
    encodeRow({ shape: "tokens", inputIds: [g.vocabSize], labels: null }, g, { vocabSize: g.vocabSize + 8 }, SRC).ids,
    [g.vocabSize],
  );
});

test("without a tokenizer only pre-tokenized rows are accepted", () => {
  assert.deepEqual(encodeRow({ shape: "tokens", inputIds: [1, 2], labels: [-100, 2] }, null, {}, SRC), {
    ids: [1, 2],
    labels: [-100, 2],
  });
  assert.throws(
    () => encodeRow({ shape: "text", text: "hi" }, null, {}, SRC),
    (e: Error & { code?: string }) =>
      e.code === "ERR_DATA" && /^train\.jsonl:12: rows of shape "text" need a tokenizer/.test(e.message),
  );
});
