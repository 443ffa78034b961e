import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { test } from "node:test";
import { firstBadUtf8, readJsonl } from "../../src/data/jsonl.ts";
import { detectShape, parseRow, type RowShape } from "../../src/data/shapes.ts";
import { tempDir, writeJsonl } from "./tokenizer-helpers.ts";

type CodedError = Error & { code?: string };

function rejects(fn: () => unknown, re: RegExp): void {
  assert.throws(fn, (e: CodedError) => {
    assert.equal(e.code, "ERR_DATA", e.message);
    assert.match(e.message, re);
    return true;
  });
}

test("readJsonl: line numbers count blank lines, CRLF and BOM handled, last line without newline", () => {
  const { dir, cleanup } = tempDir("lt-data-");
  try {
    const p = writeJsonl(dir, "a.jsonl", ['\uFEFF{"text":"a"}', "", "   ", '{"text":"b"}', '{"text":"ü"}'], "\r\n");
    assert.deepEqual(
      [...readJsonl(p)],
      [
        { line: 1, value: { text: "a" } },
        { line: 4, value: { text: "b" } },
        { line: 5, value: { text: "ü" } },
      ],
    );
    const noNl = `${dir}/b.jsonl`;
    writeFileSync(noNl, '{"text":"x"}\n{"text":"y"}');
    assert.deepEqual(
      [...readJsonl(noNl)].map((r) => r.line),
      [1, 2],
    );
  } finally {
    cleanup();
  }
});

test("readJsonl: lines and multi-byte characters split across read chunks", () => {
  const { dir, cleanup } = tempDir("lt-data-");
  try {
    const rows = Array.from({ length: 40 }, (_, i) => ({ text: `row ${i} ${"é🙂".repeat(i % 5)}` }));
    const p = writeJsonl(dir, "c.jsonl", rows);
    for (const chunk of [1, 3, 7, 64, 1 << 20]) {
      const got = [...readJsonl(p, chunk)];
      assert.deepEqual(
        got.map((r) => r.value),
        rows,
        `chunk ${chunk}`,
      );
      assert.deepEqual(
        got.map((r) => r.line),
        rows.map((_, i) => i + 1),
      );
    }
  } finally {
    cleanup();
  }
});

test("readJsonl: bad JSON and bad UTF-8 name file:line", () => {
  const { dir, cleanup } = tempDir("lt-data-");
  try {
    const bad = writeJsonl(dir, "bad.jsonl", ['{"text":"ok"}', '{"text": "unterminated}']);
    rejects(() => [...readJsonl(bad)], /bad\.jsonl:2: invalid JSON .*Line: \{"text": "unterminated\}/);
    const utf = writeJsonl(dir, "utf.jsonl", [
      '{"text":"ok"}',
      "",
      new Uint8Array([0x7b, 0x22, 0x74, 0x22, 0x3a, 0x22, 0xff, 0x22, 0x7d]),
    ]);
    rejects(() => [...readJsonl(utf)], /utf\.jsonl:3: invalid UTF-8 at byte 7 of the line \(0xff\)/);
  } finally {
    cleanup();
  }
});

test("readJsonl: a missing file is ERR_IO naming the path", () => {
  assert.throws(
    () => [...readJsonl("/nonexistent/x.jsonl")],
    (e: CodedError) => e.code === "ERR_IO" && /\/nonexistent\/x\.jsonl: cannot open/.test(e.message),
  );
});

test("firstBadUtf8 finds overlongs, surrogates, truncated and out-of-range sequences", () => {
  const enc = new TextEncoder();
  assert.equal(firstBadUtf8(enc.encode("héllo 🙂")), enc.encode("héllo 🙂").length);
  assert.equal(firstBadUtf8(new Uint8Array([0x61, 0xc0, 0x80])), 1, "overlong NUL");
  assert.equal(firstBadUtf8(new Uint8Array([0xe0, 0x80, 0x80])), 0, "overlong 3-byte");
  assert.equal(firstBadUtf8(new Uint8Array([0x61, 0x62, 0xed, 0xa0, 0x80])), 2, "UTF-16 surrogate");
  assert.equal(firstBadUtf8(new Uint8Array([0xf4, 0x90, 0x80, 0x80])), 0, "above U+10FFFF");
  assert.equal(firstBadUtf8(new Uint8Array([0x61, 0xe2, 0x82])), 1, "truncated");
  assert.equal(firstBadUtf8(new Uint8Array([0x80])), 0, "lone continuation byte");
});

const src = (line: number) => ({ file: "d.jsonl", line });

test("detectShape: each shape by its keys; extra keys ignored", () => {
  const cases: [unknown, RowShape][] = [
    [{ text: "x", id: 3 }, "text"],
    [{ prompt: "p", completion: "c" }, "prompt_completion"],
    [{ messages: [{ role: "user", content: "hi" }] }, "messages"],
    [{ instruction: "i", input: "", output: "o" }, "alpaca"],
    [{ instruction: "i", output: "o" }, "alpaca"],
    [{ input_ids: [1, 2], labels: [-100, 2] }, "tokens"],
  ];
  for (const [row, shape] of cases) assert.equal(detectShape(row, src(1)), shape, JSON.stringify(row));
});

test("parseRow: wrong shapes and bad fields name file:line and what was expected", () => {
  rejects(() => detectShape({ foo: 1, bar: 2 }, src(7)), /d\.jsonl:7: row has keys "foo", "bar"; expected one of/);
  rejects(() => detectShape([1, 2], src(2)), /d\.jsonl:2: row is an array, not a JSON object/);
  rejects(() => detectShape("str", src(2)), /row is a string/);
  rejects(
    () => parseRow({ prompt: "p", completion: "c" }, "text", 1, src(9)),
    /d\.jsonl:9: row has shape "prompt_completion" but this file's shape is "text" \(from line 1\)/,
  );
  rejects(() => parseRow({ text: 5 }, "text", 1, src(3)), /d\.jsonl:3: "text" must be a string, got number 5/);
  rejects(
    () => parseRow({ prompt: "p", completion: null }, "prompt_completion", 1, src(3)),
    /"completion" must be a string, got null/,
  );
  rejects(() => parseRow({ messages: [] }, "messages", 1, src(4)), /"messages" must be a non-empty array/);
  rejects(
    () => parseRow({ messages: [{ role: "user" }] }, "messages", 1, src(4)),
    /messages\[0\]\.content must be a string or a list of \{"type":"text","text"\} parts, got nothing/,
  );
  rejects(
    () => parseRow({ messages: [{ role: 1, content: "x" }] }, "messages", 1, src(4)),
    /messages\[0\]\.role must be a non-empty string/,
  );
  rejects(() => parseRow({ messages: ["hi"] }, "messages", 1, src(4)), /messages\[0\] must be an object/);
  rejects(
    () => parseRow({ input_ids: [1, 2.5] }, "tokens", 1, src(5)),
    /input_ids\[1\] is number 2\.5, expected a token id >= 0/,
  );
  rejects(() => parseRow({ input_ids: [1, -100] }, "tokens", 1, src(5)), /input_ids\[1\] is number -100/);
  rejects(
    () => parseRow({ input_ids: [1, 2], labels: [2] }, "tokens", 1, src(5)),
    /"labels" has 1 entries but "input_ids" has 2/,
  );
  rejects(() => parseRow({ input_ids: [] }, "tokens", 1, src(5)), /"input_ids" is empty/);
  rejects(
    () => parseRow({ input_ids: [1], labels: [-5] }, "tokens", 1, src(5)),
    /labels\[0\] is number -5, expected a token id >= 0 or -100/,
  );
  assert.deepEqual(parseRow({ instruction: "i", input: null, output: "o" }, "alpaca", 1, src(1)), {
    shape: "alpaca",
    instruction: "i",
    input: "",
    output: "o",
  });
  assert.deepEqual(parseRow({ input_ids: [4, 5] }, "tokens", 1, src(1)), {
    shape: "tokens",
    inputIds: [4, 5],
    labels: null,
  });
});
