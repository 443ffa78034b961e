/**
 * The rows of one dataset file, whatever its format: JSONL (a JSON value per line) or Parquet (a row group at a
 * time, each row the object its columns make). Both yield `line` (JSONL: the line number; Parquet: the row number
 * in the file, from 1) and the row's value; a Parquet row also says where it is (`at`: file, row group, row),
 * which row errors use in place of `file:line`.
 */
import { readJsonl } from "./jsonl.ts";
import { isParquetPath, readParquetRows } from "./parquet.ts";

export interface DataRow {
  line: number;
  value: unknown;
  /** Where the row is, for messages, when `file:line` does not say it (a Parquet row). */
  at?: string;
}

/** Iterates over the rows of `path`: Parquet for a .parquet file, JSONL otherwise. */
export function readDataRows(path: string): Generator<DataRow> {
  return isParquetPath(path) ? readParquetRows(path) : readJsonl(path);
}
