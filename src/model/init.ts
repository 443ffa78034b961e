/**
 * Random initialisation of a model from its family's specs (as transformers' _init_weights): linear, embedding
 * and head weights ~ N(0, std), biases 0, norm weights 1 (a spec's `init` may say otherwise). Seeded and
 * deterministic: tensors are drawn in the order the family lists them. Used to make new base models (the bundled
 * demo model, benchmarks) and by tests. Tensors come out in the file's layout (a transposed spec's shape reversed),
 * ready to be written as safetensors or handed to assembleModel.
 */

import { alignedFloat32 } from "../tensor/aligned.ts";
import { Rng } from "../tensor/rng.ts";
import type { StoredTensor } from "../tensor/stored-tensor.ts";
import type { ParamSpec } from "./arch/spec.ts";
import { fileShape } from "./assemble.ts";
import type { ModelConfig } from "./config.ts";
import { modelParamSpecs } from "./specs.ts";

/** How a spec is initialised: its own `init`, else by role (norm → ones, bias → zeros, others normal). */
export function initKind(spec: ParamSpec): "normal" | "ones" | "zeros" {
  return spec.init ?? (spec.role === "norm" ? "ones" : spec.role === "bias" ? "zeros" : "normal");
}

export interface InitOptions {
  seed: number;
  /** Standard deviation of weights (default 0.02, as initializer_range). */
  std?: number;
  /** Standard deviation of a jitter added to "ones" tensors (default 0: exactly 1). */
  normJitter?: number;
  /** Standard deviation of "zeros" tensors (default 0). */
  biasStd?: number;
}

export function initModelTensors(c: ModelConfig, o: InitOptions): Map<string, StoredTensor> {
  const rng = new Rng(o.seed);
  const normal = () => Math.sqrt(-2 * Math.log(1 - rng.next())) * Math.cos(2 * Math.PI * rng.next());
  const std = o.std ?? 0.02;
  const tensors = new Map<string, StoredTensor>();
  for (const spec of modelParamSpecs(c)) {
    const shape = fileShape(spec);
    const kind = initKind(spec);
    const n = shape.reduce((a, b) => a * b, 1);
    const data = alignedFloat32(n);
    for (let i = 0; i < n; i++) {
      if (kind === "ones") data[i] = 1 + (o.normJitter ?? 0) * normal();
      else if (kind === "zeros") data[i] = (o.biasStd ?? 0) * normal();
      else data[i] = std * normal();
    }
    tensors.set(spec.name, { dtype: "f32", shape, data });
  }
  return tensors;
}
