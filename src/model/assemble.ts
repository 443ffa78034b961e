/**
 * Builds a Model from tensors keyed by their Hugging Face names, by the family's specs: each tensor is checked
 * against its spec (present, shape, transposed in the file or not), converted (norms and biases to f32), and
 * handed to the family's assemble(), which builds its blocks. Every missing or mis-shaped tensor is listed in one
 * error.
 */
import { LoratuneError } from "../errors.ts";
import type { FileDType } from "../io/safetensors.ts";
import type { Linear } from "../nn/linear.ts";
import { valuesAsF32, weightFormat } from "../tensor/formats/index.ts";
import type { StorageDType, StoredTensor } from "../tensor/stored-tensor.ts";
import { familyOf } from "./arch/registry.ts";
import type { ParamSource, ParamSpec } from "./arch/spec.ts";
import type { ModelConfig } from "./config.ts";
import { embeddingSpec, type F32Param, type Model } from "./model.ts";

/** The shape a tensor has in the file: its memory shape, reversed when the spec says the file stores it transposed. */
export function fileShape(spec: ParamSpec): number[] {
  return spec.transposed ? [...spec.shape].reverse() : spec.shape;
}

/**
 * Builds the model; lists every missing or mis-shaped tensor in one error naming `source`. `fileLayout`: the
 * tensors are as a safetensors checkpoint stores them (transposed specs [in, out], turned here); false when they are
 * already in memory order (a GGUF file, which llama.cpp's converter writes [out, in] for every linear).
 */
export function assembleModel(
  config: ModelConfig,
  tensors: Map<string, StoredTensor>,
  dtype: StorageDType,
  source: string,
  positions = config.maxPositions,
  sourceDtype: FileDType = "F32",
  fileLayout = true,
): Model {
  const family = familyOf(config);
  const specs = family.params(config);
  const specOf = new Map(specs.map((s) => [s.name, s]));
  const problems: string[] = [];
  const taken = new Map<string, StoredTensor>();

  const take = (name: string): StoredTensor => {
    const spec = specOf.get(name);
    if (spec === undefined) throw new Error(`the ${family.name} family takes "${name}", which its params() lacks`);
    const turn = fileLayout && spec.transposed === true;
    const shape = fileLayout ? fileShape(spec) : spec.shape;
    const t = tensors.get(name);
    let out: StoredTensor;
    if (!t) {
      problems.push(`missing ${name} [${shape.join(", ")}]`);
      out = { dtype, shape: spec.shape, data: weightFormat(dtype).alloc(0) };
    } else if (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i])) {
      problems.push(`${name} has shape [${t.shape.join(", ")}], expected [${shape.join(", ")}]`);
      out = t;
    } else {
      out = turn ? transpose2d(t) : t;
    }
    taken.set(name, out);
    return out;
  };
  const f32 = (name: string): F32Param => {
    const data = toF32(take(name));
    const shape = specOf.get(name)!.shape;
    taken.set(name, { dtype: "f32", shape, data });
    return { name, shape, data, grad: null };
  };
  const source_: ParamSource = {
    stored: take,
    f32,
    linear: (module: string): Linear => {
      const spec = specOf.get(`${module}.weight`);
      if (spec?.role !== "linear") throw new Error(`the ${family.name} family takes "${module}", not a linear`);
      const weight = take(spec.name);
      const bias = specOf.has(`${module}.bias`) ? f32(`${module}.bias`).data : null;
      return {
        name: module,
        outFeatures: spec.shape[0]!,
        inFeatures: spec.shape[1]!,
        weight,
        bias,
        dWeight: null,
        dBias: null,
        adapter: null,
      };
    },
  };

  const embed = take(embeddingSpec(specs).name);
  const { layers, top } = family.assemble(config, source_, positions);
  const headSpec = specs.find((s) => s.role === "head");
  const lmHead = headSpec ? take(headSpec.name) : embed;
  if (problems.length > 0) {
    throw new LoratuneError(
      "ERR_SAFETENSORS_TENSOR",
      `${source}: the weights do not fit the config:\n  ${problems.join("\n  ")}`,
    );
  }
  const untaken = specs.filter((s) => !taken.has(s.name)).map((s) => s.name);
  if (untaken.length > 0) throw new Error(`the ${family.name} family leaves ${untaken.join(", ")} unused`);
  return {
    family,
    config,
    dtype,
    sourceDtype,
    specs,
    tensors: taken,
    embed,
    dEmbed: null,
    layers,
    top,
    linears: layers.flatMap((l) => family.blockLinears(l)),
    lmHead,
    dLmHead: null,
    positions,
  };
}

function toF32(t: StoredTensor): Float32Array {
  return valuesAsF32(
    t.dtype,
    t.data,
    t.shape.reduce((a, b) => a * b, 1),
  );
}

/**
 * The 2-D tensor [a, b] as [b, a] (same format, fresh aligned storage). Element formats only: a block format's
 * blocks run along rows, so transposing one would mean requantizing (refused).
 */
export function transpose2d(t: StoredTensor): StoredTensor {
  const [rows, cols] = t.shape as [number, number];
  const format = weightFormat(t.dtype);
  if (format.blockValues !== 1) throw new Error(`cannot transpose a ${t.dtype} tensor (blocks run along its rows)`);
  const src = t.data;
  const dst = format.alloc(src.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) dst[c * rows + r] = src[r * cols + c]!;
  return { dtype: t.dtype, shape: [cols, rows], data: dst };
}
