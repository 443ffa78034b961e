import assert from "node:assert/strict";
import { test } from "node:test";
import { makeBatches } from "../../src/data/batch.ts";
import { formatExample } from "../../src/data/check.ts";
import { readDataset } from "../../src/data/dataset.ts";
import { ALPACA_FORMAT_HELP, ALPACA_FORMAT_NAME } from "../../src/data/encode.ts";
import { chatmlTokenizer, gpt2Tokenizer, llama2Tokenizer, tempDir, writeJsonl } from "./tokenizer-helpers.ts";

type CodedError = Error & { code?: string };

test("readDataset: stats count rows, tokens, label tokens; shapes are per file", () => {
  const { dir, cleanup } = tempDir("lt-ds-");
  try {
    const g = gpt2Tokenizer();
    const a = writeJsonl(dir, "a.jsonl", [{ text: "Hello world" }, "", { text: "The quick brown fox" }]);
    const b = writeJsonl(dir, "b.jsonl", [{ prompt: "Q: two plus two?\nA:", completion: " four" }]);
    const { examples, stats } = readDataset([a, b], g);
    assert.equal(examples.length, 3);
    assert.equal(stats.rows, 3);
    assert.deepEqual(stats.shapes, { [a]: "text", [b]: "prompt_completion" });
    const tokens = examples.reduce((s, e) => s + e.ids.length, 0);
    assert.equal(stats.tokens, tokens);
    const expectLabels =
      g.encodeText("Hello world").length +
      g.encodeText("The quick brown fox").length +
      g.encodeText(" four").length +
      1;
    assert.equal(stats.labelTokens, expectLabels, "text: n-1+EOS each; completion: its tokens + EOS");
    assert.equal(stats.truncated, 0);
    const batch = makeBatches(examples, { batchSize: 8, seqLen: 64 })[0];
    assert.equal(batch?.nLabelTokens, stats.labelTokens, "the batcher trains exactly the counted label tokens");
  } finally {
    cleanup();
  }
});

test("readDataset: truncation is counted; rows whose labels are all cut off are dropped and counted", () => {
  const { dir, cleanup } = tempDir("lt-ds-");
  try {
    const g = gpt2Tokenizer();
    const longPrompt = "What is the capital of France? ".repeat(4);
    const p = writeJsonl(dir, "pc.jsonl", [
      { prompt: longPrompt, completion: " Paris." },
      { prompt: "Q:", completion: " Paris." },
      { prompt: "Q: two?", completion: " Two plus two is four, and the answer is four." },
    ]);
    const seqLen = 12;
    assert.ok(g.encodeText(longPrompt).length >= seqLen, "precondition: the long prompt fills seqLen");
    const { examples, stats } = readDataset(p, g, { seqLen });
    assert.equal(stats.rows, 3);
    assert.equal(stats.truncated, 2, "rows 1 and 3 are longer than seqLen");
    assert.equal(stats.droppedNoLabels, 1, "row 1 keeps no completion token");
    assert.equal(examples.length, 2);
    for (const e of examples) assert.ok(e.ids.length <= seqLen);
    const full = g.encodeText("Q: two? Two plus two is four, and the answer is four.");
    assert.deepEqual(examples[1]?.ids, full.slice(0, seqLen), "right truncation keeps the first seqLen tokens");
  } finally {
    cleanup();
  }
});

test("readDataset refuses a dataset where no token carries loss, explaining why with a rendered sample", () => {
  const { dir, cleanup } = tempDir("lt-ds-");
  try {
    const c = chatmlTokenizer();
    const p = writeJsonl(dir, "users.jsonl", [
      { messages: [{ role: "user", content: "hi" }] },
      {
        messages: [
          { role: "system", content: "s" },
          { role: "user", content: "hello" },
        ],
      },
    ]);
    assert.throws(
      () => readDataset(p, c),
      (e: CodedError) => {
        assert.equal(e.code, "ERR_DATA");
        assert.match(e.message, /users\.jsonl: no token in the dataset carries loss/);
        assert.match(
          e.message,
          /messages: no assistant turn carries loss: the rows have no message with role "assistant"/,
        );
        assert.match(e.message, /First example as encoded:\nmasked \| "<\|im_start\|>user\\nhi<\|im_end\|>\\n"/);
        return true;
      },
    );
    const preview = readDataset(p, c, { allowNoLabels: true });
    assert.equal(preview.examples.length, 0);
    assert.equal(preview.stats.droppedNoLabels, 2);
    const pc = writeJsonl(dir, "pc.jsonl", [{ prompt: "a long prompt that fills everything", completion: " x" }]);
    assert.throws(
      () => readDataset(pc, gpt2Tokenizer(), { seqLen: 3 }),
      /every completion was cut off.*\n.*sequence length 3/s,
    );
  } finally {
    cleanup();
  }
});

test("readDataset: mixed shapes within a file, bad rows and empty files name file:line", () => {
  const { dir, cleanup } = tempDir("lt-ds-");
  try {
    const g = gpt2Tokenizer();
    const mixed = writeJsonl(dir, "mixed.jsonl", [{ text: "a b" }, { text: "c" }, { prompt: "p", completion: "c" }]);
    assert.throws(
      () => readDataset(mixed, g),
      (e: CodedError) =>
        e.code === "ERR_DATA" &&
        e.message ===
          `${mixed}:3: row has shape "prompt_completion" but this file's shape is "text" (from line 1); all rows of one file must have the same shape`,
    );
    const badJson = writeJsonl(dir, "bj.jsonl", [{ text: "a" }, "{oops"]);
    assert.throws(() => readDataset(badJson, g), new RegExp(`${badJson}:2: invalid JSON`));
    const badUtf = writeJsonl(dir, "bu.jsonl", [{ text: "a" }, new Uint8Array([0x7b, 0xc3, 0x28, 0x7d])]);
    assert.throws(() => readDataset(badUtf, g), new RegExp(`${badUtf}:2: invalid UTF-8 at byte 2`));
    const wrong = writeJsonl(dir, "w.jsonl", [{ question: "q", answer: "a" }]);
    assert.throws(() => readDataset(wrong, g), new RegExp(`${wrong}:1: row has keys "question", "answer"`));
    const oov = writeJsonl(dir, "oov.jsonl", [{ input_ids: [1, 2] }, { input_ids: [1, 1e6] }]);
    assert.throws(() => readDataset(oov, g), new RegExp(`${oov}:2: input_ids\\[1\\] = 1000000 is outside`));
    const noTok = writeJsonl(dir, "nt.jsonl", [{ input_ids: [5, 6, 7], labels: [-100, -100, -100] }]);
    assert.throws(
      () => readDataset(noTok, null),
      /every "labels" entry is -100.*\nFirst example as encoded:\nmasked \| 5 6 7$/s,
    );
    const empty = writeJsonl(dir, "empty.jsonl", ["", "  "]);
    assert.throws(() => readDataset(empty, g), /empty\.jsonl: the dataset file has no rows/);
  } finally {
    cleanup();
  }
});

test("readDataset: Llama-2 chat file end to end, maxRows, and formatExample", () => {
  const { dir, cleanup } = tempDir("lt-ds-");
  try {
    const l = llama2Tokenizer();
    const conv = (q: string, a: string) => ({
      messages: [
        { role: "user", content: q },
        { role: "assistant", content: a },
      ],
    });
    const p = writeJsonl(dir, "chat.jsonl", [
      conv("What is two plus two?", "Four."),
      conv("Capital of France?", "Paris."),
    ]);
    const { examples, stats } = readDataset(p, l, { maxRows: 1 });
    assert.equal(stats.rows, 1);
    assert.equal(examples.length, 1);
    const ex = examples[0];
    assert.ok(ex);
    assert.equal(formatExample(ex, l), 'masked | "<s> [INST] What is two plus two? [/INST]"\nLOSS   | " Four. </s>"');
    assert.match(formatExample(ex, l, 10), /… \(\d+ more tokens\)$/);
  } finally {
    cleanup();
  }
});

test("readDataset: files lists each file's detected shape, rows read, and the Alpaca prompt format", () => {
  const { dir, cleanup } = tempDir("lt-ds-");
  try {
    const c = chatmlTokenizer();
    const conv = [
      { role: "user", content: "What is two plus two?" },
      { role: "assistant", content: "Four." },
    ];
    const files = [
      writeJsonl(dir, "text.jsonl", [{ text: "Hello world" }, { text: "The quick brown fox" }]),
      writeJsonl(dir, "pc.jsonl", [{ prompt: "Q:", completion: " four" }]),
      writeJsonl(dir, "chat.jsonl", [{ messages: conv }, "", { messages: conv }, { messages: conv }]),
      writeJsonl(dir, "share.jsonl", [
        {
          conversations: [
            { from: "human", value: "Hi" },
            { from: "gpt", value: "Hello" },
          ],
        },
      ]),
      writeJsonl(dir, "alpaca.jsonl", [
        { instruction: "Add.", input: "2, 2", output: "4" },
        { instruction: "Say hi.", output: "hi" },
      ]),
      writeJsonl(dir, "ids.jsonl", [{ input_ids: [5, 6, 7] }]),
    ];
    const data = readDataset(files, c);
    assert.deepEqual(data.files, [
      { path: files[0], shape: "text", rows: 2 },
      { path: files[1], shape: "prompt_completion", rows: 1 },
      { path: files[2], shape: "messages", rows: 3 },
      { path: files[3], shape: "sharegpt", rows: 1 },
      { path: files[4], shape: "alpaca", rows: 2, promptFormat: "Stanford Alpaca" },
      { path: files[5], shape: "tokens", rows: 1 },
    ]);
    assert.equal(ALPACA_FORMAT_NAME, "Stanford Alpaca");
    assert.ok(!ALPACA_FORMAT_HELP.includes("\n") && ALPACA_FORMAT_HELP.includes("### Response:"));
    assert.equal(
      data.files.reduce((n, f) => n + f.rows, 0),
      data.stats.rows,
    );
    // maxRows stops inside the third file: it is listed with the rows read, later files are not.
    const some = readDataset(files, c, { maxRows: 4 });
    assert.deepEqual(
      some.files.map((f) => [f.shape, f.rows]),
      [
        ["text", 2],
        ["prompt_completion", 1],
        ["messages", 1],
      ],
    );
  } finally {
    cleanup();
  }
});
