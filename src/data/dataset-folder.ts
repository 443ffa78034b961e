/**
 * A dataset folder in the Hugging Face layout: data files named by split, as the hub's repositories and its Parquet
 * conversion lay them out. A split's files are, in the folder or its data/ subfolder, `<split>.<ext>`,
 * `<split>-*.<ext>` (train-00000-of-00002.parquet) or any file in a `<split>/` subfolder, for ext parquet, jsonl or
 * json, in name order. Split names as the hub's datasets library recognises them: train (training), validation
 * (valid, val, dev), test (testing, eval, evaluation). The train split is the training data; the validation
 * split, else the test split, is taken as --val when none is given.
 */
import { existsSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { LoratuneError } from "../errors.ts";

const SPLITS = {
  train: ["train", "training"],
  validation: ["validation", "valid", "val", "dev"],
  test: ["test", "testing", "eval", "evaluation"],
} as const;
const DATA_FILE = /\.(parquet|jsonl|json)$/i;

export const isDatasetFolder = (path: string): boolean => existsSync(path) && statSync(path).isDirectory();

/** The files of one split of dataset folder `dir` (none: an empty list). */
export function splitFiles(dir: string, split: keyof typeof SPLITS): string[] {
  const names: readonly string[] = SPLITS[split];
  const found: string[] = [];
  for (const base of [dir, join(dir, "data")]) {
    if (!isDatasetFolder(base)) continue;
    for (const entry of readdirSync(base, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
      const path = join(base, entry.name);
      if (entry.isDirectory() && names.includes(entry.name.toLowerCase())) {
        found.push(...dataFilesIn(path));
      } else if (entry.isFile() && DATA_FILE.test(entry.name) && names.includes(splitOf(entry.name))) {
        found.push(path);
      }
    }
  }
  return found;
}

/** The split a file name says: "train" of train-00000-of-00001.parquet, train.jsonl or train_0.parquet. */
function splitOf(name: string): string {
  return name.replace(DATA_FILE, "").split(/[-_.]/)[0]!.toLowerCase();
}

function dataFilesIn(dir: string): string[] {
  return readdirSync(dir)
    .filter((n) => DATA_FILE.test(n))
    .sort()
    .map((n) => join(dir, n));
}

/** `paths` with each dataset folder replaced by its train split's files (an error when it has none). */
export function expandDataPaths(paths: string[]): string[] {
  return paths.flatMap((p) => {
    if (!isDatasetFolder(p)) return [p];
    const files = splitFiles(p, "train");
    if (files.length === 0) {
      throw new LoratuneError(
        "ERR_DATA",
        `${p}: a dataset folder, but no train split in it (expected e.g. data/train-00000-of-00001.parquet, ` +
          "train.jsonl or train/*.parquet)",
      );
    }
    return files;
  });
}

/** The validation split of the dataset folders among `paths` (else their test split); null when none has one. */
export function folderValidationFiles(paths: string[]): string[] | null {
  const folders = paths.filter(isDatasetFolder);
  for (const split of ["validation", "test"] as const) {
    const files = folders.flatMap((d) => splitFiles(d, split));
    if (files.length > 0) return files;
  }
  return null;
}

/**
 * The validation files of a run: --val (a file, or a dataset folder's validation split, else its test split),
 * else the validation (else test) split of the dataset folders among the training paths; null when there is none.
 */
export function validationFiles(val: string | undefined, data: string[]): string[] | null {
  if (val === undefined) return folderValidationFiles(data);
  if (!isDatasetFolder(val)) return [val];
  const files = folderValidationFiles([val]);
  if (files === null) {
    throw new LoratuneError("ERR_DATA", `--val ${val}: a dataset folder, but no validation or test split in it`);
  }
  return files;
}
