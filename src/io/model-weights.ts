/**
 * The weights of a Hugging Face model directory: either one `model.safetensors`, or shards described by
 * `model.safetensors.index.json` (`{"metadata": {...}, "weight_map": {tensor name: shard file name}}`).
 * As transformers does, a single `model.safetensors` wins when both are present.
 *
 * The weight_map is authoritative: every entry must name an existing shard that holds that tensor (checked
 * from the shards' headers before any data is read); tensors a shard holds beyond its weight_map entries are
 * not loaded.
 */
import * as fs from "node:fs";
import * as nodePath from "node:path";
import { LoratuneError } from "../errors.ts";
import type { StorageDType, StoredTensor } from "../tensor/stored-tensor.ts";
import { readJsonObject } from "./json-file.ts";
import { previewJson } from "./preview.ts";
import {
  READABLE_DTYPES,
  readSafetensorsHeader,
  readTensors,
  type SafetensorsFile,
  type TensorInfo,
  type TensorTransform,
} from "./safetensors.ts";

export const SINGLE_WEIGHTS_FILE = "model.safetensors";
export const WEIGHTS_INDEX_FILE = "model.safetensors.index.json";

/** Where one weight lives: its file's header and its entry there. */
export interface WeightLocation {
  file: SafetensorsFile;
  info: TensorInfo;
}

/** Headers of all weight files of a model directory, with each weight located. */
export interface ModelWeightsIndex {
  dir: string;
  /** Absolute-or-as-given paths of the weight files, in shard order. */
  files: string[];
  /** Weight name → location, sorted by name. */
  tensors: Map<string, WeightLocation>;
}

function indexError(file: string, what: string): LoratuneError {
  return new LoratuneError("ERR_SAFETENSORS_INDEX", `${file}: ${what}`);
}

/** Parsed weight_map of an index file: tensor name → shard file name (relative to the directory). */
export function readWeightMap(indexPath: string): Map<string, string> {
  const expected = 'an object with a "weight_map" object';
  const json = readJsonObject(indexPath, "ERR_SAFETENSORS_INDEX", expected);
  const weightMap = json.weight_map;
  if (!isObject(weightMap)) throw indexError(indexPath, `expected ${expected}`);
  const out = new Map<string, string>();
  for (const [name, shard] of Object.entries(weightMap)) {
    if (typeof shard !== "string" || !isPlainRelative(shard)) {
      throw indexError(
        indexPath,
        `weight_map entry "${previewName(name)}": ${previewJson(shard)} is not a file name in the model directory`,
      );
    }
    out.set(name, shard);
  }
  if (out.size === 0) throw indexError(indexPath, "weight_map is empty");
  return out;
}

/** A name from the file as shown in messages (bounded). */
function previewName(name: string): string {
  return name.length > 200 ? `${name.slice(0, 199)}…` : name;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === "object" && !Array.isArray(v);
}

/** A relative path that stays inside the directory (no absolute path, no "." or ".." segment). */
function isPlainRelative(p: string): boolean {
  if (p === "" || nodePath.isAbsolute(p) || p.includes("\\")) return false;
  return p.split("/").every((seg) => seg !== "" && seg !== "." && seg !== "..");
}

/** The weight files of `dir`: [model.safetensors], or the distinct shards of the index in order of appearance. */
export function listModelWeightFiles(dir: string): string[] {
  return locateWeightFiles(dir).files;
}

/** The weight files of `dir`, and the index's weight_map when the weights are sharded (the index read once). */
function locateWeightFiles(dir: string): { files: string[]; weightMap: Map<string, string> | null } {
  const single = nodePath.join(dir, SINGLE_WEIGHTS_FILE);
  if (fs.existsSync(single)) return { files: [single], weightMap: null };
  const indexPath = nodePath.join(dir, WEIGHTS_INDEX_FILE);
  if (!fs.existsSync(indexPath)) {
    throw new LoratuneError(
      "ERR_IO",
      `${dir}: no ${SINGLE_WEIGHTS_FILE} or ${WEIGHTS_INDEX_FILE} (safetensors weights)`,
    );
  }
  const weightMap = readWeightMap(indexPath);
  const shards = [...new Set(weightMap.values())];
  for (const shard of shards) {
    const path = nodePath.join(dir, shard);
    if (!fs.existsSync(path)) throw indexError(indexPath, `shard "${previewName(shard)}" does not exist in ${dir}`);
  }
  return { files: shards.map((shard) => nodePath.join(dir, shard)), weightMap };
}

/** Reads every weight file's header (no data) and locates each weight; checks the index against the shards. */
export function openModelWeights(dir: string): ModelWeightsIndex {
  const { files, weightMap } = locateWeightFiles(dir);
  const headers = new Map(files.map((f) => [f, readSafetensorsHeader(f)]));
  const located: [string, WeightLocation][] = [];
  const indexPath = nodePath.join(dir, WEIGHTS_INDEX_FILE);
  if (weightMap === null) {
    const file = headers.get(files[0]!)!;
    for (const info of file.tensors.values()) located.push([info.name, { file, info }]);
  } else {
    const missing: string[] = [];
    for (const [name, shard] of weightMap) {
      const file = headers.get(nodePath.join(dir, shard))!;
      const info = file.tensors.get(name);
      if (info === undefined) missing.push(`"${previewName(name)}" (in ${previewName(shard)})`);
      else located.push([name, { file, info }]);
    }
    if (missing.length > 0) {
      const shown = missing.slice(0, 10).join(", ") + (missing.length > 10 ? `, … (${missing.length} in all)` : "");
      throw indexError(indexPath, `weight_map lists tensors missing from their shard: ${shown}`);
    }
  }
  located.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return { dir, files, tensors: new Map(located) };
}

/**
 * Loads every weight of the model directory `dir` (or of its already opened index), converted to `as`, keyed by
 * its Hugging Face name (sorted). All headers and dtypes are checked before any tensor data is read. `onTensor`
 * transforms each tensor as soon as it is read.
 */
export function loadModelWeights(
  dir: string | ModelWeightsIndex,
  as: StorageDType,
  onTensor?: TensorTransform,
): Map<string, StoredTensor> {
  const index = typeof dir === "string" ? openModelWeights(dir) : dir;
  const unreadable = [...index.tensors.values()].filter(({ info }) => !READABLE_DTYPES.has(info.dtype));
  if (unreadable.length > 0) {
    const shown = unreadable.slice(0, 10).map(({ info }) => `"${previewName(info.name)}" (${info.dtype})`);
    const list = shown.join(", ") + (unreadable.length > 10 ? `, … (${unreadable.length} in all)` : "");
    const where = unreadable[0]!.file.path;
    throw new LoratuneError(
      "ERR_SAFETENSORS_TENSOR",
      `${where}: tensors of dtypes loratune cannot read as weights (expected F32, F16 or BF16): ${list}`,
    );
  }
  // Group by file so that each file is opened once and read in offset order.
  const byFile = new Map<SafetensorsFile, TensorInfo[]>();
  for (const { file, info } of index.tensors.values()) {
    const list = byFile.get(file);
    if (list === undefined) byFile.set(file, [info]);
    else list.push(info);
  }
  const loaded = new Map<string, StoredTensor>();
  for (const [file, infos] of byFile) {
    infos.sort((a, b) => a.begin - b.begin);
    const names = infos.map((i) => i.name);
    for (const [name, t] of readTensors(file, names, as, onTensor)) loaded.set(name, t);
  }
  const out = new Map<string, StoredTensor>();
  // Keyed as the index names them (a family may rename the file's tensors: model/load.ts).
  for (const [name, { info }] of index.tensors) out.set(name, loaded.get(info.name)!);
  return out;
}
