/**
 * LoRA adapters as GGUF files, the layout llama.cpp's `--lora` (and node-llama-cpp's `lora`, and Ollama's
 * ADAPTER) loads: general.type "adapter", adapter.type "lora", adapter.lora.alpha, general.architecture the base's;
 * for each adapted linear, `<its GGUF weight name>.lora_a` [r, in] and `.lora_b` [out, r] (file dims innermost
 * first, so ne = [in, r] and [r, out]), with lora_b's rows reordered per head like the base's q/k weights.
 *
 * llama.cpp scales each module by alpha / r (r from the tensors), one alpha for the file. A module whose PEFT scale
 * s·r differs from the file's alpha (rsLoRA with mixed ranks, rank_pattern, alpha_pattern) has the ratio folded
 * into its lora_b. The PEFT adapter_config.json travels in `loratune.adapter_config`, so reading the file back
 * gives the PEFT adapter with identical tensors; a GGUF adapter without it (llama.cpp's converter) is read as
 * plain LoRA with r from the tensors and lora_alpha = alpha.
 */
import { LoratuneError } from "../errors.ts";
import { f32, type GgufMetadata, numberOf, str, stringOf } from "../gguf/metadata.ts";
import { type GgufFile, readGgufHeader, readGgufTensorF32 } from "../gguf/reader.ts";
import { type GgufTensorOut, writeGguf } from "../gguf/writer.ts";
import { permuteHeadRows } from "../model/arch/llama-gguf.ts";
import { ggufNamingOf } from "../model/gguf-tensors.ts";
import type { Model } from "../model/model.ts";
import type { Linear } from "../nn/linear.ts";
import type { StoredTensor } from "../tensor/stored-tensor.ts";
import { adaptedLinears, attachedAdapter, peftKey } from "./adapter.ts";
import type { AdapterConfig } from "./method.ts";
import { LoraAdapter } from "./methods/lora.ts";
import { parseAdapterConfig } from "./registry.ts";

/** Metadata key holding the PEFT adapter_config.json (llama.cpp ignores keys it does not know). */
export const PEFT_CONFIG_KEY = "loratune.adapter_config";

/** The LoRA attached to `lin`; ERR_UNSUPPORTED for another method (llama.cpp applies LoRA only). */
function loraOf(lin: Linear): LoraAdapter {
  const a = attachedAdapter(lin);
  if (!(a instanceof LoraAdapter)) {
    throw new LoratuneError(
      "ERR_UNSUPPORTED",
      `${lin.name}: the adapter is not plain LoRA; llama.cpp applies only LoRA adapters (lora_a, lora_b)`,
    );
  }
  return a;
}

/** One alpha for the file: the first module's scale × rank (PEFT's lora_alpha, or lora_alpha·√r with rsLoRA). */
function fileAlpha(adapted: Linear[]): number {
  const first = loraOf(adapted[0]!);
  return first.scale * first.r;
}

/**
 * The factor folded into a module's lora_b so that alpha / r gives its PEFT scale: 1 when the module's s·r is the
 * file's alpha up to f32 rounding (every module of a plain config), so their tensors are written unchanged.
 */
function foldOf(a: LoraAdapter, alpha: number): number {
  const fold = (a.scale * a.r) / alpha;
  return Math.abs(fold - 1) < 1e-6 ? 1 : fold;
}

/** The GGUF name of the weight an adapted linear's tensors belong to ("blk.0.attn_q.weight"; llama.cpp strips .lora_a). */
function baseName(model: Model, lin: Linear): string {
  const name = ggufNamingOf(model).tensorName(`${lin.name}.weight`);
  if (name === null) {
    throw new LoratuneError("ERR_UNSUPPORTED", `${lin.name}: no llama.cpp tensor for this module's LoRA`);
  }
  return name;
}

/** Writes the adapter attached to `model` as a GGUF LoRA (atomically), with its PEFT config in the metadata. */
export function writeGgufAdapter(
  path: string,
  model: Model,
  peftConfig: Record<string, unknown>,
  name: string,
): number {
  const naming = ggufNamingOf(model);
  const adapted = adaptedLinears(model);
  if (adapted.length === 0) throw new LoratuneError("ERR_ADAPTER_KEYS", "the model has no adapter to export");
  const alpha = fileAlpha(adapted);
  const meta: GgufMetadata = new Map([
    ["general.architecture", str(naming.arch)],
    ["general.type", str("adapter")],
    ["general.name", str(name)],
    ["adapter.type", str("lora")],
    ["adapter.lora.alpha", f32(alpha)],
    [PEFT_CONFIG_KEY, str(JSON.stringify(peftConfig))],
  ]);
  const tensors: GgufTensorOut[] = [];
  for (const lin of adapted) {
    const a = loraOf(lin);
    const base = baseName(model, lin);
    const heads = naming.permuteHeads(`${lin.name}.weight`, model.config);
    const fold = foldOf(a, alpha);
    tensors.push({ name: `${base}.lora_a`, shape: [a.r, a.nIn], type: 0, data: () => bytesOf(a.A) });
    tensors.push({
      name: `${base}.lora_b`,
      shape: [a.nOut, a.r],
      type: 0,
      data: () => {
        let b = fold === 1 ? a.B : a.B.map((v) => v * fold);
        if (heads !== null) b = permuteHeadRows(b, heads, a.r);
        return bytesOf(b);
      },
    });
  }
  writeGguf(path, meta, tensors);
  return adapted.length;
}

const bytesOf = (v: Float32Array) => new Uint8Array(v.buffer, v.byteOffset, v.byteLength);

/** A GGUF adapter turned into PEFT terms: its config and its tensors under PEFT keys (f32, PEFT row order). */
export interface GgufAdapter {
  config: AdapterConfig;
  /** PEFT keys → tensors (lora_B already back in Hugging Face row order, folds not yet undone). */
  tensors: Map<string, StoredTensor>;
  /** The file's alpha (to undo folds once the adapter is attached). */
  alpha: number;
}

/** Reads a GGUF LoRA for `model`: checks it is one, for this architecture, and maps names back to PEFT's. */
export function readGgufAdapter(path: string, model: Model): GgufAdapter {
  const file = readGgufHeader(path);
  const meta = file.metadata;
  const naming = ggufNamingOf(model);
  const fail = (what: string) => new LoratuneError("ERR_ADAPTER_CONFIG", `${path}: ${what}`);
  if (stringOf(meta, "general.type") !== "adapter" || stringOf(meta, "adapter.type") !== "lora") {
    throw fail(
      `not a GGUF LoRA adapter (general.type ${stringOf(meta, "general.type")}, adapter.type ${stringOf(meta, "adapter.type")})`,
    );
  }
  const arch = stringOf(meta, "general.architecture");
  if (arch !== naming.arch) {
    throw new LoratuneError(
      "ERR_ADAPTER_KEYS",
      `${path}: adapter for llama.cpp architecture ${JSON.stringify(arch)}; this model is ${JSON.stringify(naming.arch)} (${model.config.modelType})`,
    );
  }
  const alpha = numberOf(meta, "adapter.lora.alpha") ?? 0;
  const byBase = new Map<string, Linear>();
  for (const lin of model.linears) {
    const n = naming.tensorName(`${lin.name}.weight`);
    if (n !== null) byBase.set(n, lin);
  }
  const tensors = new Map<string, StoredTensor>();
  const targets = new Set<string>();
  const unexpected: string[] = [];
  for (const info of file.tensors) {
    const m = /^(.+)\.lora_(a|b)$/.exec(info.name);
    const lin = m ? byBase.get(m[1]!) : undefined;
    if (!m || !lin) {
      unexpected.push(info.name);
      continue;
    }
    targets.add(lin.name.split(".").at(-1)!);
    tensors.set(
      peftKey(lin, `lora_${m[2]!.toUpperCase()}.weight`),
      loadTensor(file, info.name, lin, m[2] === "b", model),
    );
  }
  if (unexpected.length > 0) {
    throw new LoratuneError(
      "ERR_ADAPTER_KEYS",
      `${path}: tensors that name no module of this ${naming.arch} model: ${unexpected.slice(0, 10).join(", ")}${unexpected.length > 10 ? ", …" : ""}`,
    );
  }
  return { config: configOf(path, meta, file, alpha, [...targets]), tensors, alpha };
}

function loadTensor(file: GgufFile, name: string, lin: Linear, isB: boolean, model: Model): StoredTensor {
  const info = file.tensors.find((t) => t.name === name)!;
  let values = readGgufTensorF32(file, info);
  const heads = isB ? ggufNamingOf(model).permuteHeads(`${lin.name}.weight`, model.config) : null;
  if (heads !== null && info.shape.length === 2 && info.shape[0]! % (2 * heads) === 0) {
    values = permuteHeadRows(values, heads, info.shape[1]!, true);
  }
  return { dtype: "f32", shape: info.shape, data: values };
}

/** The PEFT config the file carries, else plain LoRA from the tensors (r of the first lora_a, lora_alpha = alpha). */
function configOf(path: string, meta: GgufMetadata, file: GgufFile, alpha: number, targets: string[]): AdapterConfig {
  const carried = stringOf(meta, PEFT_CONFIG_KEY);
  if (carried !== undefined) {
    let raw: unknown;
    try {
      raw = JSON.parse(carried);
    } catch {
      throw new LoratuneError("ERR_ADAPTER_CONFIG", `${path}: ${PEFT_CONFIG_KEY} is not JSON`);
    }
    return parseAdapterConfig(raw as Record<string, unknown>, `${path} (${PEFT_CONFIG_KEY})`);
  }
  const ranks = new Map<string, number>();
  for (const t of file.tensors) {
    if (t.name.endsWith(".lora_a")) ranks.set(t.name, t.shape[0]!);
  }
  const rs = [...new Set(ranks.values())];
  if (rs.length !== 1) {
    throw new LoratuneError(
      "ERR_ADAPTER_CONFIG",
      `${path}: lora_a ranks differ between modules (${rs.join(", ")}) and the file carries no PEFT config`,
    );
  }
  const raw = {
    peft_type: "LORA",
    r: rs[0],
    lora_alpha: alpha > 0 ? alpha : rs[0],
    target_modules: targets.sort(),
  };
  return parseAdapterConfig(raw, path);
}

/** Undoes the folds writeGgufAdapter made, once the config's adapters are attached (lora_B /= s·r / alpha). */
export function unfoldGgufAdapter(model: Model, alpha: number): void {
  if (!(alpha > 0)) return;
  for (const lin of adaptedLinears(model)) {
    const a = loraOf(lin);
    const fold = foldOf(a, alpha);
    if (fold !== 1) for (let i = 0; i < a.B.length; i++) a.B[i] = a.B[i]! / fold;
  }
}
