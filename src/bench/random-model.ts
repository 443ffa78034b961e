/**
 * Random-weight models for the bench, made in memory: every linear and embedding weight ~ N(0, 0.02), norms 1
 * (as transformers' init and make_model.py). Tensors are filled one at a time through a small f32 scratch encoded
 * into the weight format by the kernels, so a bf16 model never holds an f32 copy of its weights (the peak RSS
 * measured is that of the bf16 model).
 * Also writes such a model as a Hugging Face directory (config.json + model.safetensors) for the PyTorch side.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { TensorToWrite } from "../io/safetensors.ts";
import { writeSafetensors } from "../io/safetensors-write.ts";
import type { Kernels } from "../kernels/types.ts";
import { assembleModel, fileShape } from "../model/assemble.ts";
import type { ModelConfig } from "../model/config.ts";
import { initKind } from "../model/init.ts";
import type { Model } from "../model/model.ts";
import { quantizeLinears } from "../model/quantize.ts";
import { modelStateDict } from "../model/save-dir.ts";
import { modelParamSpecs } from "../model/specs.ts";
import { formatLength, type QuantizeChoice, weightFormat } from "../tensor/formats/index.ts";
import { Rng } from "../tensor/rng.ts";
import type { StorageDType, StoredTensor } from "../tensor/stored-tensor.ts";
import { shapeConfig, shapeConfigJson } from "./shapes.ts";

const WEIGHT_STD = 0.02;
/** Elements filled per scratch chunk (4 MiB of f32). */
const CHUNK = 1 << 20;

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

/** One tensor of `kind` in `dtype`: norms are f32 ones, biases zeros, weights random (chunk by chunk). */
function makeTensor(
  k: Kernels,
  shape: number[],
  kind: "normal" | "ones" | "zeros",
  dtype: StorageDType,
  rng: Rng,
  scratch: Float32Array,
): StoredTensor {
  const n = shape.reduce((a, b) => a * b, 1);
  if (kind === "ones") return { dtype: "f32", shape, data: new Float32Array(n).fill(1) };
  if (kind === "zeros") return { dtype: "f32", shape, data: new Float32Array(n) };
  const format = weightFormat(dtype);
  const data = format.alloc(n);
  // CHUNK is even, so the Box–Muller pairs fall as they would in one pass over the whole tensor.
  for (let start = 0; start < n; start += CHUNK) {
    const len = Math.min(CHUNK, n - start);
    fillNormal(scratch, len, WEIGHT_STD, rng);
    k.weightFromF32(data.subarray(formatLength(format, start)), dtype, scratch, len);
  }
  return { dtype, shape, data };
}

/**
 * A model of `config` with seeded random weights, base weights stored as `dtype`; a quantized dtype (q8_0, q4_k)
 * is a bf16 model whose linear weights are then quantized, as `--quantize` does (model/quantize.ts).
 */
export function makeRandomModel(k: Kernels, config: ModelConfig, dtype: StorageDType, seed: number): Model {
  if (weightFormat(dtype).quantized) {
    const model = makeRandomModel(k, config, "bf16", seed);
    quantizeLinears(k, model, dtype as QuantizeChoice);
    return model;
  }
  const rng = new Rng(seed);
  const scratch = new Float32Array(CHUNK);
  const tensors = new Map<string, StoredTensor>();
  for (const spec of modelParamSpecs(config)) {
    tensors.set(spec.name, makeTensor(k, fileShape(spec), initKind(spec), dtype, rng, scratch));
  }
  return assembleModel(config, tensors, dtype, "bench (random weights)", config.maxPositions, "F32");
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
