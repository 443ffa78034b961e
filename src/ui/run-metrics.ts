/**
 * metrics.jsonl read while a run may still be appending to it: rows parsed as the report parses them
 * (report/metrics.ts), and a last line cut in the middle of its write left for the next read instead of
 * refused. Reads go from a byte offset, so a live view reads each row once.
 */
import { closeSync, existsSync, openSync, readSync, statSync } from "node:fs";
import { type MetricRow, parseMetricLine } from "../report/metrics.ts";

export interface MetricsChunk {
  rows: MetricRow[];
  /** Where the next read starts (after the last complete line). */
  offset: number;
  /** The file was rewritten shorter (a resumed run drops the rows after its checkpoint): rows are from the start. */
  restarted: boolean;
}

/** The complete rows after byte `offset` of `path` (none when the file does not exist yet). */
export function readMetricsFrom(path: string, offset = 0): MetricsChunk {
  if (!existsSync(path)) return { rows: [], offset: 0, restarted: offset > 0 };
  const size = statSync(path).size;
  // A resumed run rewrites the file shorter (lines after its checkpoint dropped): start again.
  const restarted = size < offset;
  if (restarted) offset = 0;
  if (size === offset) return { rows: [], offset, restarted };
  const buf = Buffer.alloc(size - offset);
  const fd = openSync(path, "r");
  try {
    readSync(fd, buf, 0, buf.length, offset);
  } finally {
    closeSync(fd);
  }
  const end = buf.lastIndexOf(0x0a) + 1;
  const rows: MetricRow[] = [];
  const lines = buf.subarray(0, end).toString("utf8").split("\n");
  for (const [i, line] of lines.entries()) {
    if (line.trim() === "") continue;
    const row = parseMetricLine(line, `${path}: line ${i + 1} after byte ${offset}`);
    if (row) rows.push(row);
  }
  return { rows, offset: offset + end, restarted };
}
