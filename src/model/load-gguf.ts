/**
 * A GGUF file (llama.cpp, Ollama, LM Studio) as a base Model: the family from general.architecture (llama — also
 * what llama.cpp writes for Mistral —, qwen2, qwen3, gpt2, gemma, gemma2, gemma3), the config from the metadata (the
 * family's gguf record rebuilds config.json), and the tensors under their Hugging Face names in Hugging Face's row
 * order (q/k rows of the "llama" architecture permuted back per head) and values (Gemma's norms less the 1 its
 * converter added), so everything above sees the model a Hugging Face directory gives.
 *
 * Weights stay in the file's format: F32, F16, BF16, Q8_0, Q4_0, Q4_K, Q5_K and Q6_K tensors are read straight into
 * their own aligned storage (block formats never exist dequantized; the kernels decode them block by block).
 * `dtype` applies to the float 2-D tensors only (F32/F16/BF16 are converted to it, default f32); block-quantized
 * tensors stay as stored, and 1-D tensors (norms, biases) become f32 as in every model. The whole header is checked
 * before any weight is read: every missing, mis-shaped, unknown or unsupported tensor is listed in one error.
 */
import { closeSync, existsSync, openSync, readSync, statSync } from "node:fs";
import { LoratuneError } from "../errors.ts";
import { stringOf } from "../gguf/metadata.ts";
import {
  type GgufFile,
  type GgufTensorInfo,
  readGgufHeader,
  readGgufTensorBytes,
  readGgufTensorF32,
  readGgufTensorInto,
} from "../gguf/reader.ts";
import { getKernels } from "../kernels/index.ts";
import {
  FORMAT_NAMES,
  formatById,
  formatBytes,
  type QuantizeChoice,
  valuesAsF32,
  type WeightFormat,
  weightFormat,
} from "../tensor/formats/index.ts";
import type { StorageDType, StoredTensor } from "../tensor/stored-tensor.ts";
import { permuteRowsInto } from "./arch/llama-gguf.ts";
import { familyForGgufArch } from "./arch/registry.ts";
import type { GgufModelView, GgufNaming, ModelFamily, ParamSpec } from "./arch/spec.ts";
import { assembleModel } from "./assemble.ts";
import type { ModelConfig } from "./config.ts";
import type { Model } from "./model.ts";
import { quantizeLinears, specQuantizedFormat } from "./quantize.ts";

/**
 * Whether a --model path names a GGUF file: by its extension, or, for a file without one (Ollama's blobs are named
 * sha256-<hex>), by the GGUF magic in its first four bytes.
 */
export function isGgufPath(path: string): boolean {
  if (/\.gguf$/i.test(path)) return true;
  try {
    if (!statSync(path).isFile()) return false;
    const fd = openSync(path, "r");
    try {
      const magic = Buffer.alloc(4);
      return readSync(fd, magic, 0, 4, 0) === 4 && magic.toString("latin1") === "GGUF";
    } finally {
      closeSync(fd);
    }
  } catch {
    return false;
  }
}

/** A GGUF base model's header, family and config (no weight read yet). */
export interface GgufModelHeader {
  file: GgufFile;
  family: ModelFamily;
  naming: GgufNaming;
  /** The Hugging Face config.json the metadata amounts to (what a merged model directory gets). */
  configJson: Record<string, unknown>;
  config: ModelConfig;
}

/** Reads and checks the header of the GGUF model at `path` and rebuilds its config. */
export function readGgufModel(path: string): GgufModelHeader {
  if (!existsSync(path) || !statSync(path).isFile()) {
    throw new LoratuneError("ERR_IO", `${path}: GGUF model file not found`);
  }
  const file = readGgufHeader(path);
  const arch = stringOf(file.metadata, "general.architecture");
  if (arch === undefined) {
    throw new LoratuneError("ERR_GGUF", `${path}: no general.architecture (a GGUF model file names its architecture)`);
  }
  const family = familyForGgufArch(arch, path);
  const naming = family.gguf!;
  const byName = new Map(file.tensors.map((t) => [t.name, t]));
  const view: GgufModelView = {
    path,
    metadata: file.metadata,
    shape: (name) => byName.get(name)?.shape,
    f32: (name) => readGgufTensorF32(file, byName.get(name)!),
  };
  const configJson = naming.configJson(view);
  const config = family.parseConfig(configJson, `${path} (its metadata as config.json)`);
  return { file, family, naming, configJson, config };
}

export interface LoadGgufOptions {
  /** The format float 2-D tensors are kept in (default f32); block-quantized ones stay as stored. */
  dtype?: StorageDType;
  /** Positions the RoPE tables cover (default the context length, capped at 32768). */
  ropePositions?: number;
  /** Quantize the linear weights that are float in the file (quantized ones stay as stored). */
  quantize?: QuantizeChoice | undefined;
  /** The header as already read (readGgufModel), so that it is not read again. */
  header?: GgufModelHeader;
}

/** Loads the GGUF model at `path` (see the file comment). */
export function loadGgufModel(path: string, options: LoadGgufOptions = {}): Model {
  const header = options.header ?? readGgufModel(path);
  const { file, config } = header;
  const dtype = options.dtype ?? "f32";
  const plan = planTensors(header);
  // Loading the kernels first lets the native loader install the address probe (aligned weight storage).
  getKernels();
  const tensors = new Map<string, StoredTensor>();
  for (const { info, spec, format } of plan) {
    const heads = header.naming.permuteHeads(spec.name, config);
    const t = readWeight(file, info, format, targetFormat(format, spec, dtype), heads);
    tensors.set(spec.name, unshift(t, header.naming.valueShift?.(spec.name) ?? 0));
  }
  const positions = Math.min(config.maxPositions, options.ropePositions ?? 32768);
  // GGUF holds every linear [out, in], the memory order (GPT-2's Conv1D weights too): nothing is transposed.
  const model = assembleModel(config, tensors, dtype, path, positions, "F32", false);
  if (options.quantize !== undefined) quantizeLinears(getKernels(), model, options.quantize);
  return model;
}

interface PlannedTensor {
  info: GgufTensorInfo;
  spec: ParamSpec;
  format: WeightFormat;
}

/** Every weight matched to its spec, or one ERR_GGUF listing what is missing, mis-shaped, unknown or unreadable. */
function planTensors(h: GgufModelHeader): PlannedTensor[] {
  const specs = new Map(h.family.params(h.config).map((s) => [s.name, s]));
  const plan: PlannedTensor[] = [];
  const problems: string[] = [];
  const unsupported: string[] = [];
  for (const info of h.file.tensors) {
    if (h.naming.configTensors.includes(info.name)) continue;
    const hf = h.naming.hfTensorName(info.name);
    const spec = hf === null ? undefined : specs.get(hf);
    if (spec === undefined) {
      problems.push(
        `unknown tensor ${info.name} [${info.shape.join(", ")}] (no weight of this ${h.family.name} model)`,
      );
      continue;
    }
    specs.delete(spec.name);
    const shape = spec.shape;
    if (info.shape.length !== shape.length || info.shape.some((d, i) => d !== shape[i])) {
      problems.push(`${info.name} (${spec.name}) has shape [${info.shape.join(", ")}], expected [${shape.join(", ")}]`);
      continue;
    }
    const format = formatById(info.type.id);
    if (format === undefined) unsupported.push(`${info.name} (${info.type.name})`);
    else plan.push({ info, spec, format });
  }
  for (const spec of specs.values()) {
    problems.push(`missing ${h.naming.tensorName(spec.name) ?? spec.name} [${spec.shape.join(", ")}] (${spec.name})`);
  }
  if (unsupported.length > 0) {
    const known = FORMAT_NAMES.map((n) => weightFormat(n).name.toUpperCase()).join(", ");
    throw new LoratuneError(
      "ERR_UNSUPPORTED",
      `${h.file.path}: tensors of ggml types loratune cannot read: ${unsupported.slice(0, 10).join(", ")}${unsupported.length > 10 ? `, … (${unsupported.length} in all)` : ""} (it reads ${known})`,
    );
  }
  if (problems.length > 0) {
    const shown =
      problems.slice(0, 20).join("\n  ") + (problems.length > 20 ? `\n  … (${problems.length} in all)` : "");
    throw new LoratuneError(
      "ERR_GGUF",
      `${h.file.path}: the tensors do not fit the ${h.family.name} model its metadata describes:\n  ${shown}`,
    );
  }
  return plan;
}

/**
 * The format each tensor of the model will be held in once loaded with `dtype` and `quantize` (for the memory
 * estimate made before any weight is read): the file's type for block formats and 1-D tensors (f32), else dtype,
 * or --quantize's format for a float linear.
 */
export function ggufHeldFormats(
  h: GgufModelHeader,
  dtype: StorageDType,
  quantize?: QuantizeChoice,
): (spec: ParamSpec) => StorageDType {
  const types = new Map(h.file.tensors.map((t) => [h.naming.hfTensorName(t.name), formatById(t.type.id)]));
  return (spec) => {
    if (spec.shape.length === 1) return "f32";
    const stored = types.get(spec.name);
    if (stored?.quantized) return stored.name as StorageDType;
    return quantize !== undefined ? specQuantizedFormat(spec, quantize, dtype) : dtype;
  };
}

/** The format a tensor is kept in: 1-D and block-quantized ones as stored, float 2-D ones in `dtype`. */
/** A 1-D tensor less the constant the converter added to it (Gemma's norms stored as 1 + w), in f32. */
function unshift(t: StoredTensor, shift: number): StoredTensor {
  if (shift === 0 || t.shape.length !== 1) return t;
  const values = valuesAsF32(t.dtype, t.data, t.shape[0]!).map((v) => v - shift);
  return { dtype: "f32", shape: t.shape, data: values };
}

function targetFormat(format: WeightFormat, spec: ParamSpec, dtype: StorageDType): WeightFormat {
  if (spec.shape.length === 1 || format.quantized) return format;
  return weightFormat(dtype);
}

/**
 * One tensor read into its own aligned storage (rows reordered per head from llama.cpp's order when `heads` is
 * set: a row is whole blocks, so its bytes move unchanged), then converted to `target` if that differs.
 */
function readWeight(
  file: GgufFile,
  info: GgufTensorInfo,
  format: WeightFormat,
  target: WeightFormat,
  heads: number | null,
): StoredTensor {
  const n = info.shape.reduce((a, b) => a * b, 1);
  const data = format.alloc(n);
  const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  if (heads === null) readGgufTensorInto(file, info, bytes);
  else permuteRowsInto(bytes, readGgufTensorBytes(file, info), heads, formatBytes(format, n / info.shape[0]!), true);
  const from = format.name as StorageDType;
  if (target === format) return { dtype: from, shape: info.shape, data };
  const to = target.name as StorageDType;
  const k = getKernels();
  const values = new Float32Array(n);
  k.weightToF32(values, data, from, n);
  const out = target.alloc(n);
  k.weightFromF32(out, to, values, n);
  return { dtype: to, shape: info.shape, data: out };
}
