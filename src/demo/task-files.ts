/**
 * The demo task's split written as JSONL files (train.jsonl, test.jsonl) for `loratune train` and the tests; the
 * task itself is task.ts.
 */
import { randomBytes } from "node:crypto";
import { mkdir, rename, unlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { LoratuneError } from "../errors.ts";
import { generateTask, type RowFormat, type TaskOptions, type TaskSplit, taskJsonl } from "./task.ts";

export type { RowFormat };

export interface WrittenDataset {
  trainPath: string;
  testPath: string;
  split: TaskSplit;
}

/**
 * Writes `train.jsonl` and `test.jsonl` into `dir` (created if missing). Both are written to temporary files
 * first and renamed into place only after both writes succeeded, so a reader never sees a partial file.
 */
export async function writeTaskDataset(
  dir: string,
  opts: TaskOptions & { format?: RowFormat },
): Promise<WrittenDataset> {
  const split = generateTask(opts);
  const format = opts.format ?? "prompt-completion";
  const files = [
    { path: join(dir, "train.jsonl"), text: taskJsonl(split.train, format) },
    { path: join(dir, "test.jsonl"), text: taskJsonl(split.test, format) },
  ];
  const suffix = `.tmp-${process.pid}-${randomBytes(4).toString("hex")}`;
  let current = dir;
  try {
    await mkdir(dir, { recursive: true });
    for (const f of files) {
      current = f.path + suffix;
      await writeFile(current, f.text);
    }
    for (const f of files) {
      current = f.path;
      await rename(f.path + suffix, f.path);
    }
  } catch (err) {
    await Promise.all(files.map((f) => unlink(f.path + suffix).catch(() => undefined)));
    throw new LoratuneError("ERR_IO", `cannot write demo dataset ${current}: ${(err as Error).message}`, {
      cause: err,
    });
  }
  return { trainPath: files[0]!.path, testPath: files[1]!.path, split };
}
