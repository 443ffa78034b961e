/**
 * Writing Parquet dataset files in tests, with hyparquet-writer: columns of strings, integer lists (INT64, as the
 * hub's files store token ids) and lists of structs ({"messages": [{role, content}]}), in any codec. SNAPPY is
 * hyparquet-writer's own, GZIP is node's zlib, ZSTD is the zstd library itself compiled to WebAssembly
 * (@bokuweb/zstd-wasm, level 3: real compressed blocks, as the hub's files have; node 20 has no zstd encoder).
 */
import { gzipSync } from "node:zlib";
import { compress as zstdCompress, init as zstdInit } from "@bokuweb/zstd-wasm";
import type { SchemaElement } from "hyparquet";
import { parquetWriteFile } from "hyparquet-writer";

export type Codec = "UNCOMPRESSED" | "SNAPPY" | "GZIP" | "ZSTD";
export const CODECS: Codec[] = ["UNCOMPRESSED", "SNAPPY", "GZIP", "ZSTD"];

/** A column's kind: a string, a list of integers, or a list of structs with these string fields. */
export type ColumnKind = "string" | "ints" | { structList: string[] };

// The WebAssembly module loads asynchronously once; the compressors hyparquet-writer calls are synchronous.
await zstdInit();

const COMPRESSORS = {
  GZIP: (b: Uint8Array) => new Uint8Array(gzipSync(b)),
  ZSTD: (b: Uint8Array) => zstdCompress(b, 3),
};

function schemaOf(name: string, kind: ColumnKind): SchemaElement[] {
  const utf8 = (n: string): SchemaElement => ({
    name: n,
    type: "BYTE_ARRAY",
    converted_type: "UTF8",
    repetition_type: "OPTIONAL",
  });
  if (kind === "string") return [utf8(name)];
  const list: SchemaElement[] = [
    { name, repetition_type: "OPTIONAL", num_children: 1, converted_type: "LIST" },
    { name: "list", repetition_type: "REPEATED", num_children: 1 },
  ];
  if (kind === "ints") return [...list, { name: "element", type: "INT64", repetition_type: "OPTIONAL" }];
  return [
    ...list,
    { name: "element", repetition_type: "OPTIONAL", num_children: kind.structList.length },
    ...kind.structList.map(utf8),
  ];
}

/**
 * Writes `rows` (objects as a JSONL line would hold them) to `path` with the given column kinds; integer lists
 * are stored as INT64. `rowGroupSize` rows per row group.
 */
export function writeParquet(
  path: string,
  rows: Record<string, unknown>[],
  columns: Record<string, ColumnKind>,
  codec: Codec = "SNAPPY",
  rowGroupSize = 4,
): void {
  const names = Object.keys(columns);
  const data = names.map((name) => {
    const values = rows.map((r) => r[name] ?? null);
    const kind = columns[name]!;
    return kind === "ints" ? values.map((v) => (v === null ? null : (v as number[]).map(BigInt))) : values;
  });
  parquetWriteFile({
    filename: path,
    columnData: names.map((name, i) => ({ name, data: data[i]! })),
    schema: [{ name: "root", num_children: names.length }, ...names.flatMap((n) => schemaOf(n, columns[n]!))],
    codec,
    compressors: COMPRESSORS,
    rowGroupSize,
  });
}
