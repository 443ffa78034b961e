/**
 * Writing Parquet dataset files in tests, with hyparquet-writer: columns of strings, integer lists (INT64, as the
 * hub's files store token ids) and lists of structs ({"messages": [{role, content}]}), in any codec. SNAPPY is
 * hyparquet-writer's own, GZIP is node's zlib; node 20 has no zstd encoder, so ZSTD pages are written as zstd
 * frames of raw (stored) blocks, valid zstd (RFC 8878) that any zstd decoder reads.
 */
import { gzipSync } from "node:zlib";
import type { SchemaElement } from "hyparquet";
import { parquetWriteFile } from "hyparquet-writer";

export type Codec = "UNCOMPRESSED" | "SNAPPY" | "GZIP" | "ZSTD";
export const CODECS: Codec[] = ["UNCOMPRESSED", "SNAPPY", "GZIP", "ZSTD"];

/** A column's kind: a string, a list of integers, or a list of structs with these string fields. */
export type ColumnKind = "string" | "ints" | { structList: string[] };

/** A zstd frame holding `data` in raw blocks (single segment, 4-byte content size, no checksum). */
export function zstdStored(data: Uint8Array): Uint8Array {
  const BLOCK = 128 * 1024;
  const blocks = Math.max(1, Math.ceil(data.length / BLOCK));
  const out = new Uint8Array(4 + 1 + 4 + blocks * 3 + data.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, 0xfd2fb528, true);
  out[4] = 0xa0; // Frame_Content_Size_Flag 2 (4 bytes), Single_Segment_Flag
  view.setUint32(5, data.length, true);
  let at = 9;
  for (let b = 0; b < blocks; b++) {
    const chunk = data.subarray(b * BLOCK, Math.min(data.length, (b + 1) * BLOCK));
    const header = (chunk.length << 3) | (0 << 1) | (b === blocks - 1 ? 1 : 0); // Raw_Block
    out[at] = header & 0xff;
    out[at + 1] = (header >> 8) & 0xff;
    out[at + 2] = (header >> 16) & 0xff;
    out.set(chunk, at + 3);
    at += 3 + chunk.length;
  }
  return out;
}

const COMPRESSORS = {
  GZIP: (b: Uint8Array) => new Uint8Array(gzipSync(b)),
  ZSTD: zstdStored,
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
