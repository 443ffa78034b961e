/** Row shapes: ShareGPT conversations and list-of-parts message content read as messages, with file:line errors. */
import assert from "node:assert/strict";
import { test } from "node:test";
import { readDataset } from "../../src/data/dataset.ts";
import { detectShape, parseRow } from "../../src/data/shapes.ts";
import { chatmlTokenizer, tempDir, writeJsonl } from "./tokenizer-helpers.ts";

const src = { file: "d.jsonl", line: 7 };
type CodedError = Error & { code?: string };
const dataError = (pattern: RegExp) => (e: CodedError) => e.code === "ERR_DATA" && pattern.test(e.message);

test("ShareGPT rows become messages with chat roles", () => {
  const row = {
    id: "x1",
    conversations: [
      { from: "system", value: "Be brief." },
      { from: "human", value: "Hi" },
      { from: "gpt", value: "Hello." },
      { from: "User", value: "Bye" },
      { from: "assistant", value: "Bye." },
    ],
  };
  assert.equal(detectShape(row, src), "sharegpt");
  assert.deepEqual(parseRow(row, "sharegpt", 1, src), {
    shape: "messages",
    messages: [
      { role: "system", content: "Be brief." },
      { role: "user", content: "Hi" },
      { role: "assistant", content: "Hello." },
      { role: "user", content: "Bye" },
      { role: "assistant", content: "Bye." },
    ],
  });
});

test("ShareGPT errors name file:line, the turn and what was expected", () => {
  const bad = (conversations: unknown) => () => parseRow({ conversations }, "sharegpt", 1, src);
  assert.throws(bad([]), dataError(/^d\.jsonl:7: "conversations" must be a non-empty array/));
  assert.throws(
    bad([{ from: "bot", value: "x" }]),
    dataError(/conversations\[0\]\.from is string "bot", expected one of system, human/),
  );
  assert.throws(bad([{ from: "human" }]), dataError(/conversations\[0\]\.value must be a string, got nothing/));
  assert.throws(bad(["hi"]), dataError(/conversations\[0\] must be an object/));
  // A file is one shape: a messages row after ShareGPT rows is a mixed-shape error.
  assert.throws(
    () => parseRow({ messages: [{ role: "user", content: "x" }] }, "sharegpt", 1, src),
    dataError(/row has shape "messages" but this file's shape is "sharegpt" \(from line 1\)/),
  );
});

test("message content as a list of text parts is joined; other parts are refused", () => {
  const row = {
    messages: [
      {
        role: "user",
        content: [
          { type: "text", text: "Hello, " },
          { type: "text", text: "there" },
        ],
      },
      { role: "assistant", content: "Hi." },
    ],
  };
  const parsed = parseRow(row, "messages", 1, src);
  assert.deepEqual(parsed, {
    shape: "messages",
    messages: [
      { role: "user", content: "Hello, there" },
      { role: "assistant", content: "Hi." },
    ],
  });
  const image = { messages: [{ role: "user", content: [{ type: "image", url: "a.png" }] }] };
  assert.throws(
    () => parseRow(image, "messages", 1, src),
    dataError(/messages\[0\]\.content\[0\] is an object of type "image"; only \{"type":"text","text":string\} parts/),
  );
  assert.throws(
    () => parseRow({ messages: [{ role: "user", content: 3 }] }, "messages", 1, src),
    dataError(/messages\[0\]\.content must be a string or a list of/),
  );
});

test("a ShareGPT file trains like the same conversations written as messages", () => {
  const { dir, cleanup } = tempDir("lt-sharegpt-");
  try {
    const tok = chatmlTokenizer();
    const share = writeJsonl(dir, "share.jsonl", [
      {
        conversations: [
          { from: "human", value: "Two plus two?" },
          { from: "gpt", value: "Four." },
        ],
      },
    ]);
    const msgs = writeJsonl(dir, "msgs.jsonl", [
      {
        messages: [
          { role: "user", content: "Two plus two?" },
          { role: "assistant", content: "Four." },
        ],
      },
    ]);
    const a = readDataset([share], tok);
    const b = readDataset([msgs], tok);
    assert.deepEqual(a.stats.shapes, { [share]: "sharegpt" });
    assert.deepEqual(a.examples[0]!.ids, b.examples[0]!.ids);
    assert.deepEqual(a.examples[0]!.labels, b.examples[0]!.labels);
    assert.ok(a.stats.labelTokens > 0);
  } finally {
    cleanup();
  }
});
