/**
 * LoRA as an adapter method, exactly PEFT's: for each targeted linear W [out, in], A [r, in] and B [out, r];
 * y = W·x + s·B·(A·dropout(x)) with s = alpha/r, or alpha/√r with rsLoRA (rank_pattern / alpha_pattern per
 * module). Init: A kaiming-uniform(a=√5) = U(±1/√in), B zeros ("gaussian": A ~ N(0, 1/r); false: B uniform too;
 * "pissa", "pissa_niter_N", "olora": from the base weight, which becomes the residual, lora/weight-init.ts).
 * Saved as `lora_A.weight` [r, in] and `lora_B.weight` [out, r]; adapter_config.json with peft_type "LORA".
 * Merge: W' = W + s·B·A (unmerge subtracts), in f32.
 *
 * The arithmetic order is fixed (golden tests compare it bit for bit): xa = s·(dropout(x)·Aᵀ), then y += xa·Bᵀ;
 * the dropout scale is the f32 1/(1-p), kept per element so checkpointing replays a mask exactly.
 */
import { LoratuneError } from "../../errors.ts";
import { describeValue, previewJson } from "../../io/preview.ts";
import type { Kernels } from "../../kernels/types.ts";
import type { Model } from "../../model/model.ts";
import type { AdapterCache, DropoutSource, Uniform } from "../../nn/adapter-hooks.ts";
import type { Linear } from "../../nn/linear.ts";
import {
  type LoraConfig,
  layersPatternJson,
  MAX_PATTERN,
  moduleRankAndScale,
  readLayersPattern,
  readLayersToTransform,
  readModulesToSave,
  readTargetModules,
  usablePattern,
  validateLoraConfig,
} from "../config.ts";
import type { AdapterMethod, AdapterTensor, AdapterTensorSpec, AttachedAdapter } from "../method.ts";
import { readTokenIndices, tokenIndicesJson } from "../trainable-tokens.ts";
import { checkInitTarget, type InitialFactors, initFromBaseWeight, initFromWeight } from "../weight-init.ts";

/** What LoRA's forward keeps for backward (its cacheSizes). */
interface LoraCache {
  /** [M, r]: s·(dropout(x)·Aᵀ). */
  xa: Float32Array;
  /** [M, in]: 0 or 1/(1-p) per element; absent without dropout (or without gradients). */
  dropScale?: Float32Array;
  /** [M, in]: dropout(x); absent without dropout. */
  xDrop?: Float32Array;
}

/** LoRA attached to one linear. */
export class LoraAdapter implements AttachedAdapter {
  readonly method = "lora";
  readonly tensors: readonly AdapterTensor[];
  readonly scratchPerRow: number;
  /** PiSSA / OLoRA: A and B as initialised from the base weight (the adapter is saved relative to them). */
  initial: InitialFactors | null = null;

  constructor(
    readonly nIn: number,
    readonly nOut: number,
    readonly r: number,
    /** alpha/r, or alpha/√r with rsLoRA. */
    readonly scale: number,
    readonly dropout: number,
    readonly A: Float32Array, // [r, in]
    readonly B: Float32Array, // [out, r]
    readonly dA: Float32Array | null,
    readonly dB: Float32Array | null,
  ) {
    this.scratchPerRow = r;
    this.tensors = [
      { ...tensorSpecsFor(nIn, nOut, r)[0]!, data: A, grad: dA },
      { ...tensorSpecsFor(nIn, nOut, r)[1]!, data: B, grad: dB },
    ];
  }

  cacheSizes(training: boolean): Record<string, number> {
    return loraCacheSizes(this.r, this.nIn, this.dropout, training);
  }

  forward(
    k: Kernels,
    y: Float32Array,
    x: Float32Array,
    lin: Linear,
    M: number,
    cache: AdapterCache,
    dropout: DropoutSource,
  ): void {
    const c = cache as unknown as LoraCache;
    const xIn = applyDropout(x, this.dropout, c, M * lin.inFeatures, dropout);
    k.matmulNT(c.xa, xIn, this.A, M, this.r, lin.inFeatures, false);
    scale(c.xa, M * this.r, this.scale);
    k.matmulNT(y, c.xa, this.B, M, lin.outFeatures, this.r, true);
  }

  backward(
    k: Kernels,
    dx: Float32Array | null,
    dy: Float32Array,
    x: Float32Array,
    lin: Linear,
    M: number,
    cache: AdapterCache,
    dxa: Float32Array,
  ): void {
    const { inFeatures: nIn, outFeatures: nOut } = lin;
    const c = cache as unknown as LoraCache;
    const r = this.r;
    if (this.dB) k.matmulTN(this.dB, dy, c.xa, nOut, r, M, true);
    // d(x·Aᵀ) = s · dy·B   [M, r]
    k.matmulNN(dxa, dy, this.B, M, r, nOut, false);
    scale(dxa, M * r, this.scale);
    if (this.dA) k.matmulTN(this.dA, dxa, c.xDrop ?? x, r, nIn, M, true);
    if (!dx) return;
    if (!c.dropScale) {
      k.matmulNN(dx, dxa, this.A, M, nIn, r, true);
      return;
    }
    // With dropout the input gradient passes through the same mask: dx += (dxa·A) ⊙ dropScale.
    const tmp = c.xDrop!; // reuse: xDrop is no longer needed once dA is done
    k.matmulNN(tmp, dxa, this.A, M, nIn, r, false);
    const ds = c.dropScale;
    const n = M * nIn;
    for (let i = 0; i < n; i++) dx[i]! += tmp[i]! * ds[i]!;
  }

  merge(k: Kernels, w: Float32Array): void {
    this.addDelta(k, w, this.scale);
  }

  unmerge(k: Kernels, w: Float32Array): void {
    this.addDelta(k, w, -this.scale);
  }

  /** w += s·B·A (f32 [out, in]). */
  private addDelta(k: Kernels, w: Float32Array, s: number): void {
    const n = this.nOut * this.nIn;
    const delta = new Float32Array(n);
    k.matmulNN(delta, this.B, this.A, this.nOut, this.nIn, this.r, false); // [out, r]·[r, in]
    for (let i = 0; i < n; i++) w[i] = w[i]! + s * delta[i]!;
  }
}

/** f32 values per row LoRA's forward keeps: xa [r]; with dropout (when training) its mask and dropped input too. */
export function loraCacheSizes(r: number, nIn: number, dropout: number, training: boolean): Record<string, number> {
  if (training && dropout > 0) return { xa: r, dropScale: nIn, xDrop: nIn };
  return { xa: r };
}

function tensorSpecsFor(nIn: number, nOut: number, r: number): AdapterTensorSpec[] {
  return [
    { name: "lora_A.weight", shape: [r, nIn], axes: ["rank", "in"] },
    { name: "lora_B.weight", shape: [nOut, r], axes: ["out", "rank"] },
  ];
}

export function applyDropout(
  x: Float32Array,
  p: number,
  cache: Pick<LoraCache, "dropScale" | "xDrop">,
  n: number,
  src: DropoutSource,
): Float32Array {
  if (p <= 0 || !cache.dropScale || !cache.xDrop || !src) return x;
  // The f32 scale, as stored in dropScale: a replayed mask then gives bit-identical inputs (and PyTorch scales
  // float tensors by the float 1/(1-p) too).
  const keep = Math.fround(1 / (1 - p));
  const ds = cache.dropScale;
  const xd = cache.xDrop;
  if (src === "replay") {
    for (let i = 0; i < n; i++) xd[i] = x[i]! * ds[i]!;
    return xd;
  }
  const uniform = src;
  for (let i = 0; i < n; i++) {
    const s = uniform() < p ? 0 : keep;
    ds[i] = s;
    xd[i] = x[i]! * s;
  }
  return xd;
}

export function scale(a: Float32Array, n: number, s: number): void {
  if (s === 1) return;
  for (let i = 0; i < n; i++) a[i]! *= s;
}

/** The random initialisations (true, false, "gaussian"); those from the base weight are weight-init.ts's. */
export function initLora(
  A: Float32Array,
  B: Float32Array,
  nIn: number,
  r: number,
  init: LoraConfig["initLoraWeights"],
  uniform: Uniform,
): void {
  if (initFromWeight(init)) throw new Error(`initLora: ${String(init)} initialises from the base weight`);
  if (init === "gaussian") {
    const std = 1 / r;
    for (let i = 0; i < A.length; i++) A[i] = gaussian(uniform) * std;
    return;
  }
  const boundA = 1 / Math.sqrt(nIn);
  for (let i = 0; i < A.length; i++) A[i] = (2 * uniform() - 1) * boundA;
  if (init === false) {
    const boundB = 1 / Math.sqrt(r);
    for (let i = 0; i < B.length; i++) B[i] = (2 * uniform() - 1) * boundB;
  }
}

/** A standard normal draw from two uniforms (Box-Muller). */
export function gaussian(uniform: Uniform): number {
  const u1 = Math.max(uniform(), 1e-300);
  return Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * uniform());
}

/** Whether the model's file stores this linear's weight transposed ([in, out], GPT-2's Conv1D). */
function storedTransposed(model: Model, lin: Linear): boolean {
  return model.specs.find((s) => s.name === `${lin.name}.weight`)?.transposed === true;
}

/** PEFT's fan_in_fan_out for these linears: true when all are stored [in, out], false when none, null when mixed. */
function fanInFanOutOf(model: Model, adapted: readonly Linear[]): boolean | null {
  const transposed = adapted.filter((l) => storedTransposed(model, l)).length;
  if (transposed === 0) return false;
  return transposed === adapted.length ? true : null;
}

/**
 * PEFT's correction of fan_in_fan_out (LoraModel._create_new_module): the flag only says how the base weight is
 * laid out, which the model knows, so a wrong one is overridden with a warning (PEFT's UserWarning text) rather
 * than refused: false on a Conv1D target ([in, out], GPT-2) becomes true, true on a Linear becomes false. The
 * lora_A [r, in] and lora_B [out, r] tensors are the same either way. The config then holds the model's layout.
 */
function correctFanInFanOut(c: LoraConfig, model: Model, adapted: readonly Linear[]): void {
  if (c.fanInFanOut === null) return;
  const wrong = adapted.filter((lin) => storedTransposed(model, lin) !== c.fanInFanOut);
  if (wrong.length === 0) return;
  const message = c.fanInFanOut
    ? "fan_in_fan_out is set to True but the target module is `torch.nn.Linear`. Setting fan_in_fan_out to False."
    : "fan_in_fan_out is set to False but the target module is `Conv1D`. Setting fan_in_fan_out to True.";
  process.emitWarning(`${message} (${wrong[0]!.name}${wrong.length > 1 ? ` and ${wrong.length - 1} more` : ""})`, {
    type: "LoratuneWarning",
    code: "FAN_IN_FAN_OUT",
  });
  c.fanInFanOut = fanInFanOutOf(model, adapted);
}

/**
 * LoRA's adapter_config.json → LoraConfig (PEFT's defaults for absent keys; unknown keys ignored). `method`
 * "dora" reads the same fields for DoRA (use_dora true), which plain LoRA refuses.
 */
export function parseLoraConfig(raw: Record<string, unknown>, path: string, method = "lora"): LoraConfig {
  const fail = (msg: string): never => {
    throw new LoratuneError("ERR_ADAPTER_CONFIG", `${path}: ${msg}`);
  };
  if (raw.peft_type !== "LORA") fail(`peft_type is ${previewJson(raw.peft_type)}; only "LORA" adapters are supported`);
  if (raw.use_dora === true && method === "lora") fail("use_dora is true; DoRA adapters are not supported");
  if (raw.bias != null && raw.bias !== "none") fail(`bias is ${previewJson(raw.bias)}; only "none" is supported`);
  const targetModules = readTargetModules(raw, fail);
  const number = (key: string, fallback: number, ok: (v: number) => boolean, want: string): number => {
    const v = raw[key] ?? fallback;
    if (typeof v !== "number" || !ok(v)) fail(`${key} must be ${want} (got ${describeValue(raw[key])})`);
    return v as number;
  };
  const init = raw.init_lora_weights;
  if (typeof init === "string" && (init === "olora" || init === "corda" || init.startsWith("pissa"))) {
    fail(
      `init_lora_weights is ${previewJson(init)}: this adapter was saved without conversion, so it applies to the residual base its initialisation left (W - s*B0*A0), not to an original base model. Save it with PEFT's path_initial_model_for_weight_conversion (a plain LoRA of rank 2r; loratune saves its own PiSSA/OLoRA runs that way)`,
    );
  }
  const layersPattern = readLayersPattern(raw, fail);
  const modulesToSave = readModulesToSave(raw, fail);
  const trainableTokenIndices = readTokenIndices(raw, fail);
  const config: LoraConfig = {
    method,
    ...(layersPattern ? { layersPattern } : {}),
    ...(modulesToSave ? { modulesToSave } : {}),
    ...(trainableTokenIndices ? { trainableTokenIndices } : {}),
    r: number("r", Number.NaN, (v) => Number.isInteger(v) && v > 0, "a positive integer"),
    loraAlpha: number("lora_alpha", 8, (v) => Number.isFinite(v) && v > 0, "a positive number"),
    loraDropout: number("lora_dropout", 0, (v) => v >= 0 && v < 1, "a number in [0, 1)"),
    targetModules,
    useRslora: raw.use_rslora === true,
    layersToTransform: readLayersToTransform(raw, fail),
    initLoraWeights: init === false || init === "gaussian" ? init : true,
    rankPattern: patternMap(raw.rank_pattern, "rank_pattern", (v) => Number.isInteger(v) && v > 0, fail),
    alphaPattern: patternMap(raw.alpha_pattern, "alpha_pattern", (v) => Number.isFinite(v) && v > 0, fail),
    fanInFanOut: typeof raw.fan_in_fan_out === "boolean" ? raw.fan_in_fan_out : null,
  };
  validateLoraConfig(config, path);
  return config;
}

/**
 * rank_pattern / alpha_pattern: an object of module-name patterns to numbers. Each key is used inside a regular
 * expression when modules are matched (lora/config.ts), so it must compile here, where the file can be named.
 */
function patternMap(
  v: unknown,
  key: string,
  ok: (x: number) => boolean,
  fail: (msg: string) => never,
): Record<string, number> {
  if (v == null) return {};
  if (typeof v !== "object" || Array.isArray(v)) fail(`${key} must be an object (got ${describeValue(v)})`);
  const out: Record<string, number> = {};
  for (const [pattern, value] of Object.entries(v as Record<string, unknown>)) {
    const name = previewJson(pattern);
    if (typeof value !== "number" || !ok(value)) fail(`${key}[${name}] has a bad value ${describeValue(value)}`);
    if (!usablePattern(`^(?:.*\\.)?(?:${pattern})$`)) {
      fail(`${key} key ${name} is not a usable regular expression (invalid, or over ${MAX_PATTERN})`);
    }
    Object.defineProperty(out, pattern, { value, enumerable: true, writable: true, configurable: true });
  }
  return out;
}

/** The adapter_config.json PEFT writes for a LoRA causal-LM adapter. */
export function loraConfigJson(
  c: LoraConfig,
  model: Model,
  adapted: readonly Linear[],
  baseModel: string | null,
): Record<string, unknown> {
  return {
    alpha_pattern: c.alphaPattern,
    auto_mapping: null,
    base_model_name_or_path: baseModel,
    bias: "none",
    // PEFT's own flag for [in, out] weights (GPT-2's Conv1D); PEFT corrects it per module when they are mixed.
    fan_in_fan_out: fanInFanOutOf(model, adapted) === true,
    inference_mode: true,
    init_lora_weights: c.initLoraWeights,
    layers_pattern: layersPatternJson(c.layersPattern),
    layers_to_transform: c.layersToTransform,
    lora_alpha: c.loraAlpha,
    lora_dropout: c.loraDropout,
    modules_to_save: c.modulesToSave?.length ? [...c.modulesToSave] : null,
    peft_type: "LORA",
    r: c.r,
    rank_pattern: c.rankPattern,
    revision: null,
    target_modules: typeof c.targetModules === "string" ? c.targetModules : [...c.targetModules].sort(),
    task_type: "CAUSAL_LM",
    trainable_token_indices: tokenIndicesJson(c.trainableTokenIndices),
    use_dora: false,
    use_rslora: c.useRslora,
  };
}

export const lora: AdapterMethod<LoraConfig> = {
  name: "lora",
  peftType: "LORA",
  parseConfig: (raw, path) => parseLoraConfig(raw, path),
  configJson: loraConfigJson,
  checkModel(c, model, adapted) {
    if (initFromWeight(c.initLoraWeights)) {
      for (const lin of adapted) checkInitTarget(lin, c.initLoraWeights, moduleRankAndScale(c, lin.name).r);
    }
    correctFanInFanOut(c, model, adapted);
  },
  tensorSpecs(c, lin) {
    return tensorSpecsFor(lin.inFeatures, lin.outFeatures, moduleRankAndScale(c, lin.name).r);
  },
  arenaSizes(c, lin, training) {
    const { r } = moduleRankAndScale(c, lin.name);
    return { cacheSizes: loraCacheSizes(r, lin.inFeatures, c.loraDropout, training), scratchPerRow: r };
  },
  attach(c, lin, uniform, withGrad) {
    const { r, scale } = moduleRankAndScale(c, lin.name);
    const A = new Float32Array(r * lin.inFeatures);
    const B = new Float32Array(lin.outFeatures * r);
    let initial: InitialFactors | null = null;
    if (initFromWeight(c.initLoraWeights)) {
      initial = initFromBaseWeight(lin, c.initLoraWeights, r, scale, A, B, () => gaussian(uniform));
    } else initLora(A, B, lin.inFeatures, r, c.initLoraWeights, uniform);
    const dA = withGrad ? new Float32Array(A.length) : null;
    const dB = withGrad ? new Float32Array(B.length) : null;
    const adapter = new LoraAdapter(lin.inFeatures, lin.outFeatures, r, scale, c.loraDropout, A, B, dA, dB);
    adapter.initial = initial;
    return adapter;
  },
};
