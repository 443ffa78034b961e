/**
 * The demo's output folder: the task's data (train.jsonl, test.jsonl: prompt/completion or preference rows), one
 * run directory per training (run/, or lora-rN/ and full/ with --compare) and the demo's report. It is marked as a demo output, so a later demo may
 * replace it; a folder loratune did not write, or any other loratune output, is refused.
 */
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { checkOutputDir } from "../io/output-guard.ts";
import { writeMarker } from "../io/run-marker.ts";

export interface DemoFiles {
  train: string;
  test: string;
}

const jsonl = (rows: readonly unknown[]) => `${rows.map((r) => JSON.stringify(r)).join("\n")}\n`;

/** Empties (or creates) the demo folder and writes the task's data into it. */
export function prepareDemoDir(out: string, task: { train: readonly object[]; test: readonly object[] }): DemoFiles {
  if (checkOutputDir({ out, inputs: [], overwrite: true, replaceable: ["demo"] }) === "replace")
    rmSync(out, { recursive: true, force: true });
  mkdirSync(out, { recursive: true });
  writeMarker(out, { kind: "demo" });
  const files = { train: join(out, "train.jsonl"), test: join(out, "test.jsonl") };
  writeFileSync(files.train, jsonl(task.train));
  writeFileSync(files.test, jsonl(task.test));
  return files;
}
