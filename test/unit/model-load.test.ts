/**
 * loadModel reads each input once: config.json once (not at all when the caller passes the config it already
 * read), each weight file's header once and its data once, the shard index once.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import { syncBuiltinESMExports } from "node:module";
import * as os from "node:os";
import * as path from "node:path";
import { after, test } from "node:test";
import { writeSafetensors } from "../../src/io/safetensors-write.ts";
import { readModelConfig } from "../../src/model/config-file.ts";
import { loadModel } from "../../src/model/load.ts";
import { randomTensors, tinyConfig, tinyConfigJson } from "../helpers/random-model.ts";

const root = fs.mkdtempSync(path.join(os.tmpdir(), "loratune-load-"));
after(() => fs.rmSync(root, { recursive: true, force: true }));

/** A tiny model directory; sharded: the tensors split over two files with an index. */
function modelDir(name: string, sharded: boolean): string {
  const dir = path.join(root, name);
  fs.mkdirSync(dir);
  fs.writeFileSync(path.join(dir, "config.json"), JSON.stringify(tinyConfigJson()));
  const all = [...randomTensors(tinyConfig(), 1)].map(
    ([n, t]) => [n, { dtype: "F32" as const, shape: t.shape, data: t.data as Float32Array }] as const,
  );
  if (!sharded) {
    writeSafetensors(path.join(dir, "model.safetensors"), new Map(all));
    return dir;
  }
  const half = Math.ceil(all.length / 2);
  const shards = [all.slice(0, half), all.slice(half)];
  const weightMap: Record<string, string> = {};
  shards.forEach((tensors, i) => {
    const file = `model-0000${i + 1}-of-00002.safetensors`;
    writeSafetensors(path.join(dir, file), new Map(tensors));
    for (const [n] of tensors) weightMap[n] = file;
  });
  fs.writeFileSync(path.join(dir, "model.safetensors.index.json"), JSON.stringify({ weight_map: weightMap }));
  return dir;
}

/** Runs `fn` counting the files it opens, by base name. */
function countOpens(fn: () => void): Map<string, number> {
  const opens = new Map<string, number>();
  const original = fs.openSync;
  fs.openSync = ((p: fs.PathLike, ...rest: unknown[]) => {
    const name = path.basename(String(p));
    opens.set(name, (opens.get(name) ?? 0) + 1);
    return (original as (...a: unknown[]) => number)(p, ...rest);
  }) as typeof fs.openSync;
  syncBuiltinESMExports();
  try {
    fn();
  } finally {
    fs.openSync = original;
    syncBuiltinESMExports();
  }
  return opens;
}

test("one model.safetensors: config.json opened once, the weights file twice (header, then data)", () => {
  const dir = modelDir("single", false);
  const opens = countOpens(() => loadModel(dir));
  assert.deepEqual(Object.fromEntries(opens), { "config.json": 1, "model.safetensors": 2 });
});

test("sharded: the index once, each shard twice; a config passed in is not read again", () => {
  const dir = modelDir("sharded", true);
  const config = readModelConfig(dir);
  const opens = countOpens(() => loadModel(dir, { config }));
  assert.deepEqual(Object.fromEntries(opens), {
    "model.safetensors.index.json": 1,
    "model-00001-of-00002.safetensors": 2,
    "model-00002-of-00002.safetensors": 2,
  });
});

test("a --model that is a file but not a GGUF file says so, not 'no config.json in <file>'", () => {
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "loratune-notgguf-")), "train.jsonl");
  fs.writeFileSync(file, '{"text": "x"}\n');
  for (const f of [() => readModelConfig(file), () => loadModel(file)]) {
    assert.throws(f, (e: Error) => /train\.jsonl: a file that is not a GGUF model \(no GGUF magic\)/.test(e.message));
  }
});
