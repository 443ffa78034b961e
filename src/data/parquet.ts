/**
 * Parquet dataset files, streamed one row group at a time: rows come out as the plain objects a JSONL line would
 * parse to (a list-of-struct `messages` column is an array of {role, content} objects), so every row shape of
 * data/shapes.ts reads from Parquet as from JSONL. Decoding (hyparquet, with hyparquet-compressors for snappy,
 * gzip, zstd, brotli, lz4) runs in a worker thread (parquet-worker.ts) that this synchronous generator waits on, so
 * that at most one row group's rows are in memory here. Errors name the file and the row group; a row's errors
 * (from the shape checks) name the file, row group and row.
 */
import { closeSync, openSync } from "node:fs";
import { MessageChannel, receiveMessageOnPort, Worker } from "node:worker_threads";
import { LoratuneError } from "../errors.ts";
import { PARQUET_WORKER_SOURCE, type ParquetAnswer, type ParquetRequest } from "./parquet-worker.ts";

/** A row as readers see it: `line` is the 1-based row number in the file, `at` where it is, for messages. */
export interface ParquetRow {
  line: number;
  value: Record<string, unknown>;
  at: string;
}

/** The decoding modules, by URL: the worker imports them from there whatever the working directory. */
const MODULES = {
  hyparquet: import.meta.resolve("hyparquet"),
  compressors: import.meta.resolve("hyparquet-compressors"),
};
/** How long one answer may take (a row group of a few hundred MB decodes in seconds). */
const ANSWER_TIMEOUT_MS = 10 * 60 * 1000;

export const isParquetPath = (path: string): boolean => /\.parquet$/i.test(path);

/** Iterates over the rows of Parquet file `path`, decoding one row group at a time. */
export function* readParquetRows(path: string): Generator<ParquetRow> {
  try {
    closeSync(openSync(path, "r"));
  } catch (err) {
    // Worded as the JSONL reader words it: a missing file is not a Parquet format error.
    throw new LoratuneError("ERR_IO", `${path}: cannot open dataset file (${(err as Error).message})`, { cause: err });
  }
  const reader = new RowGroupReader(path);
  try {
    const meta = reader.ask({ kind: "meta" }, "the footer");
    if (meta.kind !== "meta") throw new Error("unexpected answer");
    let line = 0;
    for (let group = 0; group < meta.groups.length; group++) {
      const answer = reader.ask({ kind: "rows", group }, `row group ${group}`);
      if (answer.kind !== "rows") throw new Error("unexpected answer");
      for (let i = 0; i < answer.rows.length; i++) {
        line++;
        yield { line, value: answer.rows[i]!, at: `${path} (row group ${group}, row ${line})` };
      }
    }
  } finally {
    reader.close();
  }
}

/** The worker thread reading one file, asked synchronously. */
class RowGroupReader {
  private readonly signal = new Int32Array(new SharedArrayBuffer(4));
  private readonly channel = new MessageChannel();
  private readonly worker: Worker;

  constructor(private readonly path: string) {
    const port = this.channel.port2;
    this.worker = new Worker(PARQUET_WORKER_SOURCE, {
      eval: true,
      workerData: { path, port, signal: this.signal, ...MODULES },
      transferList: [port],
      execArgv: [],
    });
    this.worker.unref();
  }

  /** Sends `req` and blocks until its answer; an error answer is an ERR_DATA naming the file and `what`. */
  ask(req: ParquetRequest, what: string): ParquetAnswer {
    Atomics.store(this.signal, 0, 0);
    this.channel.port1.postMessage(req);
    const waited = Atomics.wait(this.signal, 0, 0, ANSWER_TIMEOUT_MS);
    const received = receiveMessageOnPort(this.channel.port1);
    if (waited === "timed-out" || received === undefined) {
      throw new LoratuneError("ERR_IO", `${this.path}: the Parquet reader gave no answer for ${what}`);
    }
    const answer = received.message as ParquetAnswer;
    if (answer.kind === "error") {
      throw new LoratuneError("ERR_DATA", `${this.path}: cannot read ${what} as Parquet (${answer.message})`);
    }
    return answer;
  }

  close(): void {
    this.channel.port1.close();
    void this.worker.terminate();
  }
}
