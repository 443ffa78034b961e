/**
 * The Parquet decoding thread behind data/parquet.ts, as the source text of a worker (`new Worker(src, {eval:
 * true})`). It is plain JavaScript on purpose: a worker whose module needs a TypeScript loader cannot start while
 * the thread that made it is blocked in Atomics.wait, which is how the synchronous dataset readers wait for it.
 *
 * workerData: {path, port, signal, hyparquet, compressors} (the last two: module URLs resolved by the parent, so
 * that the working directory does not matter). Requests on `port`: {kind: "meta"} → {kind: "meta", groups: the
 * row count of each row group}; {kind: "rows", group} → {kind: "rows", rows: that row group's rows as plain
 * objects (BigInt → number when exact, else its decimal text; typed arrays → arrays; nested lists and structs as
 * arrays and objects)}. Failures answer {kind: "error", message}. Each answer is posted, then signal[0] is set to
 * 1 and notified. Requests sent before the footer is read wait in the port's queue.
 */

/** Requests the reader sends, answers it gets. */
export type ParquetRequest = { kind: "meta" } | { kind: "rows"; group: number };
export type ParquetAnswer =
  | { kind: "meta"; groups: number[] }
  | { kind: "rows"; rows: Record<string, unknown>[] }
  | { kind: "error"; message: string };

export const PARQUET_WORKER_SOURCE = `
const { workerData } = require("node:worker_threads");
const { path, port, signal } = workerData;

function answer(a) {
  port.postMessage(a);
  Atomics.store(signal, 0, 1);
  Atomics.notify(signal, 0);
}

function plainValue(v) {
  if (typeof v === "bigint") return Number.isSafeInteger(Number(v)) ? Number(v) : v.toString();
  if (ArrayBuffer.isView(v) && !(v instanceof DataView)) return Array.from(v, plainValue);
  if (Array.isArray(v)) return v.map(plainValue);
  if (v !== null && typeof v === "object" && !(v instanceof Date)) {
    const out = {};
    for (const [k, x] of Object.entries(v)) out[k] = plainValue(x);
    return out;
  }
  return v;
}

async function main() {
  const { asyncBufferFromFile, parquetMetadataAsync, parquetReadObjects } = await import(workerData.hyparquet);
  const { compressors } = await import(workerData.compressors);
  const file = await asyncBufferFromFile(path);
  const metadata = await parquetMetadataAsync(file);
  const groups = metadata.row_groups.map((g) => Number(g.num_rows));
  const starts = [];
  let at = 0;
  for (const n of groups) {
    starts.push(at);
    at += n;
  }
  port.on("message", (req) => {
    if (req.kind === "meta") return answer({ kind: "meta", groups });
    const rowStart = starts[req.group];
    parquetReadObjects({ file, metadata, compressors, rowStart, rowEnd: rowStart + groups[req.group] })
      .then((rows) => answer({ kind: "rows", rows: rows.map(plainValue) }))
      .catch((err) => answer({ kind: "error", message: String(err && err.message ? err.message : err) }));
  });
}

main().catch((err) => answer({ kind: "error", message: String(err && err.message ? err.message : err) }));
`;
