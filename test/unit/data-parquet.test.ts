/**
 * Parquet datasets (src/data/parquet.ts, rows.ts, dataset-folder.ts): every row shape JSONL has reads from Parquet
 * to the same Examples, in every codec (files written by hyparquet-writer, including list-of-struct "messages" and
 * INT64 token-id lists); row groups are decoded one at a time (rows of a good row group arrive before a broken
 * later one fails); errors name the file and the row group (and row); dataset folders in the hub's layout give
 * their train split as data and their validation (else test) split as --val.
 */
import assert from "node:assert/strict";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, test } from "node:test";
import { parquetMetadata } from "hyparquet";
import { readDataset } from "../../src/data/dataset.ts";
import { expandDataPaths, validationFiles } from "../../src/data/dataset-folder.ts";
import { readParquetRows } from "../../src/data/parquet.ts";
import { readPreferenceDataset } from "../../src/data/preference.ts";
import { isLoratuneError } from "../../src/errors.ts";
import { CODECS, type ColumnKind, writeParquet } from "../helpers/parquet.ts";
import { chatmlTokenizer, tempDir, writeJsonl } from "./tokenizer-helpers.ts";

const { dir, cleanup } = tempDir("lt-parquet-");
after(cleanup);
const tok = chatmlTokenizer();

const msg = (role: string, content: string) => ({ role, content });
/** One sample dataset per row shape: rows as JSONL holds them, and the Parquet column kinds. */
const SHAPES: Record<string, { rows: Record<string, unknown>[]; columns: Record<string, ColumnKind> }> = {
  text: {
    rows: ["the cat sat", "on the mat", "a dog ran", "far away", "and back"].map((text) => ({ text })),
    columns: { text: "string" },
  },
  prompt_completion: {
    rows: [1, 2, 3, 4, 5].map((i) => ({ prompt: `count ${i}`, completion: ` to ${i + 1}` })),
    columns: { prompt: "string", completion: "string" },
  },
  alpaca: {
    rows: [1, 2, 3, 4, 5].map((i) => ({
      instruction: `add ${i}`,
      input: i % 2 ? null : "and one",
      output: `${i + 1}`,
    })),
    columns: { instruction: "string", input: "string", output: "string" },
  },
  messages: {
    rows: [1, 2, 3, 4, 5].map((i) => ({
      messages: [
        msg("system", "be brief"),
        msg("user", `hi ${i}`),
        msg("assistant", `hello ${i}`),
        ...(i % 2 ? [msg("user", "again"), msg("assistant", "yes")] : []),
      ],
    })),
    columns: { messages: { structList: ["role", "content"] } },
  },
  sharegpt: {
    rows: [1, 2, 3, 4, 5].map((i) => ({
      conversations: [
        { from: "human", value: `q${i}` },
        { from: "gpt", value: `a${i}` },
      ],
    })),
    columns: { conversations: { structList: ["from", "value"] } },
  },
  tokens: {
    rows: [1, 2, 3, 4, 5].map((i) => ({ input_ids: [5, 6 + i, 7, 8], labels: [-100, 6 + i, 7, 8] })),
    columns: { input_ids: "ints", labels: "ints" },
  },
};

test("every row shape reads from Parquet, in every codec, as the same rows from JSONL give", () => {
  for (const [shape, { rows, columns }] of Object.entries(SHAPES)) {
    const jsonl = writeJsonl(
      dir,
      `${shape}.jsonl`,
      rows.map((r) => JSON.parse(JSON.stringify(r))),
    );
    const fromJsonl = readDataset(jsonl, tok, { seqLen: 256 });
    assert.equal(fromJsonl.files[0]!.shape, shape);
    for (const codec of CODECS) {
      const file = join(dir, `${shape}-${codec}.parquet`);
      writeParquet(file, rows, columns, codec, 2);
      const fromParquet = readDataset(file, tok, { seqLen: 256 });
      assert.equal(fromParquet.files[0]!.shape, shape, `${shape} ${codec}`);
      assert.equal(fromParquet.files[0]!.rows, rows.length);
      assert.deepEqual(fromParquet.examples, fromJsonl.examples, `${shape} ${codec}`);
      assert.deepEqual(fromParquet.stats.labelTokens, fromJsonl.stats.labelTokens);
    }
  }
});

test("ZSTD pages are really compressed (zstd's own encoder), and read back", () => {
  const rows = Array.from({ length: 64 }, (_, i) => ({ text: `row ${i}: ${"the cat sat on the mat. ".repeat(20)}` }));
  const file = join(dir, "zstd-real.parquet");
  writeParquet(file, rows, { text: "string" }, "ZSTD", 64);
  const bytes = readFileSync(file);
  const meta = parquetMetadata(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length)).row_groups[0]!
    .columns[0]!.meta_data!;
  assert.equal(meta.codec, "ZSTD");
  assert.ok(
    meta.total_compressed_size * 10n < meta.total_uncompressed_size,
    `${meta.total_compressed_size} compressed bytes of ${meta.total_uncompressed_size}: not compressed`,
  );
  assert.deepEqual(
    [...readParquetRows(file)].map((r) => r.value),
    rows,
  );
});

test("rows come out one row group at a time, numbered through the file", () => {
  const file = join(dir, "groups.parquet");
  writeParquet(file, SHAPES.text!.rows, { text: "string" }, "SNAPPY", 2);
  const rows = [...readParquetRows(file)];
  assert.deepEqual(
    rows.map((r) => [r.line, r.at]),
    [1, 2, 3, 4, 5].map((n) => [n, `${file} (row group ${Math.floor((n - 1) / 2)}, row ${n})`]),
  );
  assert.deepEqual(
    rows.map((r) => r.value),
    SHAPES.text!.rows,
  );
});

test("a broken row group fails after the rows before it were read (streamed), naming the file and row group", () => {
  const file = join(dir, "broken.parquet");
  const rows = Array.from({ length: 6 }, (_, i) => ({ text: `row ${i} ${"word ".repeat(40)}` }));
  writeParquet(file, rows, { text: "string" }, "GZIP", 3);
  const bytes = new Uint8Array(readFileSync(file));
  const meta = parquetMetadata(bytes.buffer);
  const chunk = meta.row_groups[1]!.columns[0]!.meta_data!;
  const middle = Number(chunk.data_page_offset) + Math.floor(Number(chunk.total_compressed_size) / 2);
  bytes.fill(0xff, middle, middle + 8);
  writeFileSync(file, bytes);
  const seen: string[] = [];
  assert.throws(
    () => {
      for (const r of readParquetRows(file)) seen.push((r.value as { text: string }).text);
    },
    (e) => isLoratuneError(e) && e.code === "ERR_DATA" && e.message.startsWith(`${file}: cannot read row group 1`),
  );
  assert.deepEqual(
    seen,
    rows.slice(0, 3).map((r) => r.text),
  );
});

test("column and row errors name the file, row group and row; a file that is not Parquet says so", () => {
  const file = join(dir, "bad-column.parquet");
  writeParquet(
    file,
    [
      { prompt: "a", completion: "b" },
      { prompt: "c", completion: null },
    ],
    {
      prompt: "string",
      completion: "string",
    },
  );
  assert.throws(
    () => readDataset(file, tok),
    (e) => isLoratuneError(e) && e.message === `${file} (row group 0, row 2): "completion" must be a string, got null`,
  );
  const notParquet = join(dir, "not.parquet");
  writeFileSync(notParquet, '{"text": "I am JSONL"}\n');
  assert.throws(
    () => readDataset(notParquet, tok),
    (e) => isLoratuneError(e) && e.message.startsWith(`${notParquet}: cannot read the footer as Parquet`),
  );
});

test("preference pairs read from Parquet as from JSONL", () => {
  const rows = [1, 2, 3].map((i) => ({ prompt: `q${i}`, chosen: ` good ${i}`, rejected: ` bad ${i}` }));
  const jsonl = writeJsonl(dir, "pairs.jsonl", rows);
  const parquet = join(dir, "pairs.parquet");
  writeParquet(parquet, rows, { prompt: "string", chosen: "string", rejected: "string" }, "ZSTD", 2);
  const a = readPreferenceDataset([jsonl], tok, { seqLen: 32 });
  const b = readPreferenceDataset([parquet], tok, { seqLen: 32 });
  assert.deepEqual(b.pairs, a.pairs);
});

test("a dataset folder in the hub's layout: train shards as data, validation (else test) as --val", () => {
  const root = join(dir, "hub-dataset");
  mkdirSync(join(root, "data"), { recursive: true });
  const { rows, columns } = SHAPES.text!;
  const path = (name: string) => join(root, "data", name);
  writeParquet(path("train-00001-of-00002.parquet"), rows.slice(2), columns);
  writeParquet(path("train-00000-of-00002.parquet"), rows.slice(0, 2), columns);
  writeParquet(path("test-00000-of-00001.parquet"), rows.slice(0, 1), columns);
  writeFileSync(join(root, "README.md"), "# a dataset card\n");
  assert.deepEqual(expandDataPaths([root]), [
    path("train-00000-of-00002.parquet"),
    path("train-00001-of-00002.parquet"),
  ]);
  assert.deepEqual(validationFiles(undefined, [root]), [path("test-00000-of-00001.parquet")]);
  writeParquet(path("validation-00000-of-00001.parquet"), rows.slice(1, 2), columns);
  assert.deepEqual(validationFiles(undefined, [root]), [path("validation-00000-of-00001.parquet")]);
  assert.deepEqual(validationFiles(root, []), [path("validation-00000-of-00001.parquet")]);
  assert.deepEqual(validationFiles("v.jsonl", [root]), ["v.jsonl"]);
  const data = readDataset(root, tok);
  assert.equal(data.stats.rows, rows.length);
  assert.deepEqual(
    data.files.map((f) => f.rows),
    [2, 3],
  );
  const empty = join(dir, "empty-folder");
  mkdirSync(empty);
  assert.throws(
    () => expandDataPaths([empty]),
    (e) => isLoratuneError(e) && /a dataset folder, but no train split in it/.test(e.message),
  );
});

test("a Parquet path that does not exist is an I/O error worded as for JSONL, not a format error", () => {
  assert.throws(
    () => [...readParquetRows("/nonexistent/dir/train.parquet")],
    (e) => isLoratuneError(e) && e.code === "ERR_IO" && /train\.parquet: cannot open dataset file/.test(e.message),
  );
});
