/**
 * Random-weight models for the bench, made in memory: every linear and embedding weight ~ N(0, 0.02), norms 1
 * (as transformers' init and make_model.py). Each tensor is made directly in the format it is kept in, one at a
 * time, so no model is ever held in f32 (a bf16 model never holds an f32 copy of its weights, and an 8B q4_k
 * model never exists in bf16): the peak RSS measured is that of the model as benchmarked.
 * - Models up to POOLED_ABOVE values draw every value (Box–Muller over a seeded Rng, through a small f32 scratch
 *   encoded by the kernels), as make_model.py's models do.
 * - Larger ones (the real-scale shapes) would take minutes that way on a small machine (about 18 M values/s for
 *   the normals, 16 M/s for the q4_k quantizer on two cores), so their weights are copied, 64 Ki values at a time,
 *   from a pool of 4 Mi random values encoded once per format, at seeded random block-aligned offsets: the same
 *   value distribution and the same bytes per value, made at memory speed. Fine for throughput and memory; not a
 *   model of independent weights.
 * Also writes such a model as a Hugging Face directory (config.json + model.safetensors) for the PyTorch side.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { TensorToWrite } from "../io/safetensors.ts";
import { writeSafetensors } from "../io/safetensors-write.ts";
import type { Kernels } from "../kernels/types.ts";
import type { ParamSpec } from "../model/arch/spec.ts";
import { assembleModel, fileShape } from "../model/assemble.ts";
import type { ModelConfig } from "../model/config.ts";
import { initKind } from "../model/init.ts";
import type { Model } from "../model/model.ts";
import { quantizeLinears, specQuantizedFormat } from "../model/quantize.ts";
import { modelStateDict } from "../model/save-dir.ts";
import { modelParamSpecs } from "../model/specs.ts";
import { formatLength, type QuantizeChoice, type WeightData, weightFormat } from "../tensor/formats/index.ts";
import { Rng } from "../tensor/rng.ts";
import type { StorageDType, StoredTensor } from "../tensor/stored-tensor.ts";
import { shapeConfig, shapeConfigJson } from "./shapes.ts";

const WEIGHT_STD = 0.02;
/** Elements filled per scratch chunk (4 MiB of f32). */
const CHUNK = 1 << 20;
/** Models with more values than this are filled from a pool (see above). */
export const POOLED_ABOVE = 1 << 28;
/** Values in the pool (whole 256-value blocks), and per copy from it (whole blocks of every format). */
const POOL_VALUES = 1 << 22;
const COPY_VALUES = 1 << 16;
const BLOCK_ALIGN = 256;

/** Fills out[0..n) with N(0, std) values (Box–Muller, two values per pair of uniforms). */
function fillNormal(out: Float32Array, n: number, std: number, rng: Rng): void {
  let i = 0;
  while (i < n) {
    const radius = std * Math.sqrt(-2 * Math.log(1 - rng.next()));
    const angle = 2 * Math.PI * rng.next();
    out[i++] = radius * Math.cos(angle);
    if (i < n) out[i++] = radius * Math.sin(angle);
  }
}

/** Where a weight's values come from: drawn one by one, or copied from a pool encoded once per format. */
interface Filler {
  fill(k: Kernels, data: WeightData, dtype: StorageDType, n: number): void;
}

/** Every value drawn from `rng` (N(0, std)), chunk by chunk through `scratch`, encoded by the kernels. */
function drawingFiller(rng: Rng): Filler {
  const scratch = new Float32Array(CHUNK);
  return {
    fill(k, data, dtype, n) {
      const format = weightFormat(dtype);
      // CHUNK is even, so the Box–Muller pairs fall as they would in one pass over the whole tensor.
      for (let start = 0; start < n; start += CHUNK) {
        const len = Math.min(CHUNK, n - start);
        fillNormal(scratch, len, WEIGHT_STD, rng);
        k.weightFromF32(data.subarray(formatLength(format, start)), dtype, scratch, len);
      }
    },
  };
}

/**
 * Copies of COPY_VALUES-value runs of one pool of POOL_VALUES N(0, std) values, encoded once per format, taken at
 * seeded random offsets (multiples of 256 values, so a run is whole blocks of every format). A tensor of a block
 * format is whole blocks (its rows are), so its last, shorter run is whole blocks too.
 */
function pooledFiller(k: Kernels, rng: Rng): Filler {
  const values = new Float32Array(POOL_VALUES);
  fillNormal(values, POOL_VALUES, WEIGHT_STD, rng);
  const encoded = new Map<StorageDType, WeightData>();
  const poolOf = (dtype: StorageDType): WeightData => {
    let pool = encoded.get(dtype);
    if (pool === undefined) {
      pool = weightFormat(dtype).alloc(POOL_VALUES);
      k.weightFromF32(pool, dtype, values, POOL_VALUES);
      encoded.set(dtype, pool);
    }
    return pool;
  };
  const offsets = (POOL_VALUES - COPY_VALUES) / BLOCK_ALIGN + 1;
  return {
    fill(_k, data, dtype, n) {
      const format = weightFormat(dtype);
      const pool = poolOf(dtype);
      const at = (values: number) => formatLength(format, values);
      for (let start = 0; start < n; start += COPY_VALUES) {
        const len = Math.min(COPY_VALUES, n - start);
        const from = rng.nextInt(offsets) * BLOCK_ALIGN;
        // Each format's data is one typed array kind, so the pool's subarray is the same kind as `data`.
        (data as Uint8Array).set((pool as Uint8Array).subarray(at(from), at(from + len)), at(start));
      }
    },
  };
}

/** One tensor of `kind` in `dtype`: norms are f32 ones, biases zeros, weights random. */
function makeTensor(
  k: Kernels,
  shape: number[],
  kind: "normal" | "ones" | "zeros",
  dtype: StorageDType,
  filler: Filler,
): StoredTensor {
  const n = shape.reduce((a, b) => a * b, 1);
  if (kind === "ones") return { dtype: "f32", shape, data: new Float32Array(n).fill(1) };
  if (kind === "zeros") return { dtype: "f32", shape, data: new Float32Array(n) };
  const data = weightFormat(dtype).alloc(n);
  filler.fill(k, data, dtype, n);
  return { dtype, shape, data };
}

/**
 * The format a tensor is made in: `dtype`, or with a block format (q8_0, q4_k) what `--quantize` holds it in
 * (model/quantize.ts: the linear weights, the embedding and the head in block formats, with the same fallbacks)
 * and bf16 for the rest. A linear stored transposed in the file (GPT-2's Conv1D) is made bf16 and quantized once
 * assembled.
 */
export function randomTensorFormat(spec: ParamSpec, dtype: StorageDType): StorageDType {
  return weightFormat(dtype).quantized ? specQuantizedFormat(spec, dtype as QuantizeChoice, "bf16") : dtype;
}

/**
 * A model of `config` with seeded random weights, base weights stored as `dtype`; a block format (q8_0, q4_k) is
 * a bf16 model whose linear weights, embedding and head are quantized as `--quantize` makes them (model/quantize.ts).
 * `positions`: what the RoPE tables cover (default max_position_embeddings; a bench workload passes what it uses).
 */
export function makeRandomModel(
  k: Kernels,
  config: ModelConfig,
  dtype: StorageDType,
  seed: number,
  positions = config.maxPositions,
): Model {
  const rng = new Rng(seed);
  const specs = modelParamSpecs(config);
  const total = specs.reduce((n, s) => n + s.shape.reduce((a, b) => a * b, 1), 0);
  const filler = total > POOLED_ABOVE ? pooledFiller(k, rng) : drawingFiller(rng);
  const tensors = new Map<string, StoredTensor>();
  for (const spec of specs) {
    tensors.set(spec.name, makeTensor(k, fileShape(spec), initKind(spec), randomTensorFormat(spec, dtype), filler));
  }
  const quantized = weightFormat(dtype).quantized;
  const modelDtype = quantized ? "bf16" : dtype;
  const model = assembleModel(config, tensors, modelDtype, "bench (random weights)", positions, "F32");
  if (quantized) quantizeLinears(k, model, dtype as QuantizeChoice);
  return model;
}

/**
 * Writes the named shape as an HF model directory in `dir` (created): config.json as make_model.py writes it and
 * model.safetensors with random F32 weights (the tied head not stored). Returns the directory.
 */
export function writeRandomModelDir(k: Kernels, shape: string, dir: string, seed: number): string {
  mkdirSync(dir, { recursive: true });
  const model = makeRandomModel(k, shapeConfig(shape), "f32", seed);
  const tensors = new Map<string, TensorToWrite>();
  for (const [name, t] of modelStateDict(model))
    tensors.set(name, { dtype: "F32", shape: t.shape, data: t.data as Float32Array });
  writeSafetensors(join(dir, "model.safetensors"), tensors, { format: "pt" });
  writeFileSync(join(dir, "config.json"), `${JSON.stringify(shapeConfigJson(shape), null, 2)}\n`);
  return dir;
}
