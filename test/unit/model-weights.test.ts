/** Model directory weights: single model.safetensors, or shards through model.safetensors.index.json. */
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, test } from "node:test";
import { listModelWeightFiles, loadModelWeights, openModelWeights } from "../../src/io/model-weights.ts";
import type { TensorToWrite } from "../../src/io/safetensors.ts";
import { writeSafetensors } from "../../src/io/safetensors-write.ts";
import { loadModel } from "../../src/model/load.ts";
import { randomTensors, tinyConfig, tinyConfigJson } from "../helpers/random-model.ts";

const root = fs.mkdtempSync(path.join(os.tmpdir(), "loratune-mw-"));
after(() => fs.rmSync(root, { recursive: true, force: true }));
let n = 0;
const newDir = () => fs.mkdtempSync(path.join(root, `m${++n}-`));

const f32 = (...values: number[]): TensorToWrite => ({
  dtype: "F32",
  shape: [values.length],
  data: new Float32Array(values),
});
const bf16 = (...values: number[]): TensorToWrite => ({
  dtype: "BF16",
  shape: [values.length],
  data: new Float32Array(values),
});

/** A two-shard model: embed + layer 0 in shard 1, layer 1 + norm in shard 2 (+ `extra` tensors in shard 2). */
function shardedModel(
  weightMapEdit?: (m: Record<string, string>) => void,
  extra: Record<string, TensorToWrite> = {},
): string {
  const dir = newDir();
  const s1 = "model-00001-of-00002.safetensors";
  const s2 = "model-00002-of-00002.safetensors";
  writeSafetensors(
    path.join(dir, s1),
    { "model.embed_tokens.weight": bf16(1, 2, 3, 4), "model.layers.0.w": f32(5, 6) },
    { format: "pt" },
  );
  writeSafetensors(path.join(dir, s2), { "model.layers.1.w": f32(7, 8), "model.norm.weight": bf16(1), ...extra });
  const weightMap: Record<string, string> = {
    "model.embed_tokens.weight": s1,
    "model.layers.0.w": s1,
    "model.layers.1.w": s2,
    "model.norm.weight": s2,
  };
  weightMapEdit?.(weightMap);
  fs.writeFileSync(
    path.join(dir, "model.safetensors.index.json"),
    JSON.stringify({ metadata: { total_size: 28 }, weight_map: weightMap }),
  );
  return dir;
}

function rejects(fn: () => unknown, code: string, re: RegExp): void {
  assert.throws(fn, (e: Error & { code?: string }) => {
    assert.equal(e.code, code, e.message);
    assert.match(e.message, re);
    return true;
  });
}

test("single model.safetensors: listed alone and loaded whole, converted to the storage dtype", () => {
  const dir = newDir();
  writeSafetensors(path.join(dir, "model.safetensors"), { b: f32(1.5, -2), a: bf16(3) });
  assert.deepEqual(listModelWeightFiles(dir), [path.join(dir, "model.safetensors")]);
  const w = loadModelWeights(dir, "bf16");
  assert.deepEqual([...w.keys()], ["a", "b"]);
  assert.deepEqual([...w.get("b")!.data], [0x3fc0, 0xc000]);
  assert.equal(w.get("a")!.dtype, "bf16");
});

test("sharded model: every weight_map entry is loaded from its shard", () => {
  const dir = shardedModel();
  assert.deepEqual(
    listModelWeightFiles(dir).map((f) => path.basename(f)),
    ["model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"],
  );
  const w = loadModelWeights(dir, "f32");
  assert.deepEqual(
    [...w.keys()],
    ["model.embed_tokens.weight", "model.layers.0.w", "model.layers.1.w", "model.norm.weight"],
  );
  assert.deepEqual([...w.get("model.embed_tokens.weight")!.data], [1, 2, 3, 4]);
  assert.deepEqual([...w.get("model.layers.1.w")!.data], [7, 8]);
  const index = openModelWeights(dir);
  assert.equal(path.basename(index.tensors.get("model.norm.weight")!.file.path), "model-00002-of-00002.safetensors");
});

test("tensors in a shard but not in the weight_map are not loaded", () => {
  const dir = shardedModel(undefined, { "stray.weight": f32(9) });
  assert.equal(loadModelWeights(dir, "f32").has("stray.weight"), false);
});

test("model.safetensors wins over an index, as in transformers", () => {
  const dir = shardedModel();
  writeSafetensors(path.join(dir, "model.safetensors"), { only: f32(1) });
  assert.deepEqual([...loadModelWeights(dir, "f32").keys()], ["only"]);
});

test("missing shard file, missing tensor in its shard", () => {
  const missingShard = shardedModel((m) => {
    m["model.norm.weight"] = "model-00003-of-00003.safetensors";
  });
  rejects(
    () => loadModelWeights(missingShard, "f32"),
    "ERR_SAFETENSORS_INDEX",
    /index\.json: shard "model-00003-of-00003\.safetensors" does not exist/,
  );
  const missingTensor = shardedModel((m) => {
    m["model.layers.2.w"] = "model-00001-of-00002.safetensors";
  });
  rejects(
    () => loadModelWeights(missingTensor, "f32"),
    "ERR_SAFETENSORS_INDEX",
    /missing from their shard: "model\.layers\.2\.w" \(in model-00001-of-00002\.safetensors\)/,
  );
  const wrongShard = shardedModel((m) => {
    m["model.norm.weight"] = "model-00001-of-00002.safetensors";
  });
  rejects(() => openModelWeights(wrongShard), "ERR_SAFETENSORS_INDEX", /"model\.norm\.weight"/);
});

test("malformed index: not JSON, no weight_map, bad shard names", () => {
  const write = (text: string) => {
    const dir = newDir();
    fs.writeFileSync(path.join(dir, "model.safetensors.index.json"), text);
    return dir;
  };
  rejects(
    () => listModelWeightFiles(write('{"weight_map": {')),
    "ERR_SAFETENSORS_INDEX",
    /index\.json: not valid JSON/,
  );
  rejects(() => listModelWeightFiles(write("[]")), "ERR_SAFETENSORS_INDEX", /"weight_map" object/);
  rejects(() => listModelWeightFiles(write('{"weight_map": []}')), "ERR_SAFETENSORS_INDEX", /"weight_map" object/);
  rejects(() => listModelWeightFiles(write('{"weight_map": {}}')), "ERR_SAFETENSORS_INDEX", /weight_map is empty/);
  for (const shard of ["../outside.safetensors", "/abs.safetensors", 3, "a/./b", ""]) {
    rejects(
      () => listModelWeightFiles(write(JSON.stringify({ weight_map: { "w.x": shard } }))),
      "ERR_SAFETENSORS_INDEX",
      /weight_map entry "w\.x": .* is not a file name in the model directory/,
    );
  }
});

test("a directory without weights, and a shard with a malformed header", () => {
  rejects(() => listModelWeightFiles(newDir()), "ERR_IO", /no model\.safetensors or model\.safetensors\.index\.json/);
  const dir = shardedModel();
  fs.writeFileSync(path.join(dir, "model-00002-of-00002.safetensors"), Buffer.alloc(4));
  rejects(
    () => loadModelWeights(dir, "f32"),
    "ERR_SAFETENSORS_HEADER",
    /model-00002-of-00002\.safetensors: .*8-byte header length/,
  );
});

test("a weight of an unsupported dtype is named before any data is read", () => {
  const dir = newDir();
  const ids = path.join(dir, "model.safetensors");
  writeSafetensors(ids, { w: f32(1) });
  // Rewrite the header by hand to declare w as I32 (same size): the file is valid, the weight unreadable.
  const bytes = fs.readFileSync(ids);
  fs.writeFileSync(ids, Buffer.from(bytes.toString("latin1").replace('"dtype":"F32"', '"dtype":"I32"'), "latin1"));
  rejects(() => loadModelWeights(dir, "f32"), "ERR_SAFETENSORS_TENSOR", /model\.safetensors: .*"w" \(I32\)/);
});

/** A tiny Llama model directory whose weights are `edit`ed before writing (BF16 on disk, as released models). */
function tinyModelDir(
  tied: boolean,
  edit: (w: Map<string, TensorToWrite>) => void,
  metadata: Record<string, string> = { format: "pt" },
) {
  const raw = tinyConfigJson({ tie_word_embeddings: tied });
  const config = tinyConfig(raw);
  const weights = new Map<string, TensorToWrite>();
  for (const [name, t] of randomTensors(config, 3)) {
    weights.set(name, { dtype: "BF16", shape: t.shape, data: t.data as Float32Array });
  }
  edit(weights);
  const dir = newDir();
  fs.writeFileSync(path.join(dir, "config.json"), JSON.stringify(raw));
  writeSafetensors(path.join(dir, "model.safetensors"), weights, metadata);
  return { dir, weights };
}

test("a tied model stored with only lm_head.weight loads it as the embedding (and head)", () => {
  const { dir, weights } = tinyModelDir(
    true,
    (w) => {
      w.set("lm_head.weight", w.get("model.embed_tokens.weight")!);
      w.delete("model.embed_tokens.weight");
    },
    // Exporters that drop a shared tensor may note the alias in __metadata__; loading does not depend on it.
    { format: "pt", "model.embed_tokens.weight": "lm_head.weight" },
  );
  const model = loadModel(dir);
  assert.equal(model.lmHead, model.embed, "one table serves as embedding and head");
  assert.deepEqual(model.embed.shape, [37, 16]);
  // Exactly the stored table (the written f32 values rounded to BF16), not a fresh or zero one.
  const onDisk = loadModelWeights(dir, "f32").get("lm_head.weight")!.data;
  assert.deepEqual([...model.embed.data], [...onDisk]);
  const written = weights.get("lm_head.weight")!.data as Float32Array;
  assert.ok(model.embed.data.every((v, i) => Math.abs(v - (written[i] as number)) <= 0.01 * Math.abs(v) + 1e-6));
  assert.equal(model.sourceDtype, "BF16", "the dtype is read from lm_head.weight when it is the embedding");
  // Stored the usual way, the same values give the same model.
  const usual = tinyModelDir(true, () => {});
  assert.deepEqual([...loadModel(usual.dir).embed.data], [...model.embed.data]);
});

test("an untied model still needs both model.embed_tokens.weight and lm_head.weight", () => {
  const onlyHead = tinyModelDir(false, (w) => {
    w.delete("model.embed_tokens.weight");
  });
  rejects(
    () => loadModel(onlyHead.dir),
    "ERR_SAFETENSORS_TENSOR",
    /the weights do not fit the config:\n {2}missing model\.embed_tokens\.weight \[37, 16\]/,
  );
  const onlyEmbed = tinyModelDir(false, (w) => {
    w.delete("lm_head.weight");
  });
  rejects(() => loadModel(onlyEmbed.dir), "ERR_SAFETENSORS_TENSOR", /missing lm_head\.weight \[37, 16\]/);
  const tiedNeither = tinyModelDir(true, (w) => {
    w.delete("model.embed_tokens.weight");
  });
  rejects(() => loadModel(tiedNeither.dir), "ERR_SAFETENSORS_TENSOR", /missing model\.embed_tokens\.weight/);
});
