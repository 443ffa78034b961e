/**
 * Training on Parquet is training on the same rows in JSONL: the adapter comes out bit for bit the same (short runs
 * on the demo model, prompt/completion rows and list-of-struct "messages" rows, snappy and zstd). A dataset folder
 * in the hub's layout trains on its train shards and validates on its validation split, as --data/--val would.
 */
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { writeTaskDataset } from "../../src/demo/task-files.ts";
import { cliOk } from "../helpers/cli.ts";
import { type Codec, writeParquet } from "../helpers/parquet.ts";
import { writeJsonl } from "../unit/tokenizer-helpers.ts";

const work = mkdtempSync(join(tmpdir(), "loratune-parquet-e2e-"));
after(() => rmSync(work, { recursive: true, force: true }));
const task = await writeTaskDataset(join(work, "task"), { seed: 4, trainSize: 12, testSize: 4 });
const readRows = (path: string) =>
  readFileSync(path, "utf8")
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l) as { prompt: string; completion: string });
const pc = readRows(task.trainPath);
const chat = pc.map((r) => ({
  messages: [
    { role: "user", content: r.prompt },
    { role: "assistant", content: r.completion },
  ],
}));
const PC_COLUMNS = { prompt: "string", completion: "string" } as const;
const CHAT_COLUMNS = { messages: { structList: ["role", "content"] } };

const train = (data: string, out: string, ...extra: string[]) => {
  const args = ["train", "--model", "demo", "--data", data, "--out", out, "--steps", "3", "--batch-size", "2"];
  cliOk(...args, "--seq-len", "96", "--seed", "9", ...extra);
  return readFileSync(join(out, "adapter_model.safetensors"));
};

test("the same rows in JSONL and Parquet train to the same adapter, bit for bit", () => {
  const cases: [string, Record<string, unknown>[], Record<string, unknown>, Codec][] = [
    ["pc", pc, PC_COLUMNS, "SNAPPY"],
    ["chat", chat, CHAT_COLUMNS, "ZSTD"],
  ];
  for (const [name, rows, columns, codec] of cases) {
    const jsonl = writeJsonl(work, `${name}.jsonl`, rows);
    const parquet = join(work, `${name}.parquet`);
    writeParquet(parquet, rows, columns as never, codec, 5);
    const a = train(jsonl, join(work, `run-${name}-jsonl`));
    const b = train(parquet, join(work, `run-${name}-parquet`));
    assert.ok(a.equals(b), `${name}: the Parquet run's adapter differs from the JSONL run's`);
  }
});

test("a hub-layout dataset folder trains on its train split and validates on its validation split", () => {
  const folder = join(work, "dataset");
  mkdirSync(join(folder, "data"), { recursive: true });
  writeParquet(join(folder, "data", "train-00000-of-00002.parquet"), pc.slice(0, 6), PC_COLUMNS, "GZIP");
  writeParquet(join(folder, "data", "train-00001-of-00002.parquet"), pc.slice(6), PC_COLUMNS, "GZIP");
  const val = readRows(task.testPath);
  writeParquet(join(folder, "data", "validation-00000-of-00001.parquet"), val, PC_COLUMNS, "GZIP");
  const viaFolder = train(folder, join(work, "run-folder"), "--eval-every", "3");
  const viaFiles = train(task.trainPath, join(work, "run-files"), "--val", task.testPath, "--eval-every", "3");
  assert.ok(viaFolder.equals(viaFiles));
  const evals = (run: string) =>
    readFileSync(join(work, run, "metrics.jsonl"), "utf8")
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as { type: string; valLoss?: number; val_loss?: number })
      .filter((m) => m.type === "eval");
  assert.equal(evals("run-folder").length, 1);
  assert.deepEqual(evals("run-folder"), evals("run-files"));
});
