/**
 * The New run form is checked on every change, and each check encodes the whole dataset as train would. The last
 * few encodings are kept, keyed by the model, the encoding options and each file's path, size and modification
 * time, so changing a setting that does not touch the data (the learning rate, say) does not read it again.
 */
import { statSync } from "node:fs";
import { type Dataset, type DatasetFile, type ReadDatasetOptions, readDataset } from "../data/dataset.ts";
import type { Tokenizer } from "../tokenizer/tokenizer.ts";

/** Encodings kept. */
const KEPT = 2;

type Encoded = Dataset & { files: DatasetFile[] };
const cache = new Map<string, Encoded>();

/** readDataset(files, tok, opts), or the kept result of the same call on unchanged files. */
export function readDatasetCached(
  model: string,
  files: string[],
  tok: Tokenizer | null,
  opts: ReadDatasetOptions,
): Encoded {
  const stamp = files.map((f) => {
    const s = statSync(f, { throwIfNoEntry: false });
    return s ? `${f}:${s.size}:${s.mtimeMs}` : f;
  });
  const { onShape, ...plain } = opts;
  const key = JSON.stringify([model, stamp, plain]);
  const kept = cache.get(key);
  if (kept) {
    // The shape checks still run, as on a fresh read.
    for (const f of kept.files) onShape?.(f.path, f.shape);
    return kept;
  }
  const data = readDataset(files, tok, opts);
  cache.set(key, data);
  while (cache.size > KEPT) cache.delete(cache.keys().next().value!);
  return data;
}
