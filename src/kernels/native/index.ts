/**
 * Loader for the C++ kernel addon (prebuilt inside the package, or built from source by `npm run build:native`;
 * see locate.ts), adapting it to the Kernels interface.
 *
 * The addon exports cpuIsas() (ISAs this build has and this CPU runs, best last), hasBf16Dot() and
 * create(isa, threads), which returns an object holding every Kernels method as a native function (same positional
 * arguments; TypedArrays are passed zero-copy; calls are synchronous and run on a persistent thread pool). The
 * weight entries take the weight's format as its id (the registry's `id`, ggml's type number) where Kernels takes
 * its name: this loader translates, and the C++ dispatches on the id.
 *
 * Environment: LORATUNE_ISA=generic|avx2|avx512 forces the instruction set (an error if this CPU lacks it);
 * LORATUNE_THREADS=n sets the thread count (default: every core Node reports as available);
 * LORATUNE_BLOCK_COMPUTE=bf16|f32 how block-format weights (q8_0, q4_k, …) multiply where the CPU has a bf16 dot
 * product (AVX512_BF16): decoded and rounded to bf16 on it (default, the bf16 weights' speed), or widened to f32
 * exactly (the products of every other CPU).
 */
import { createRequire } from "node:module";
import { availableParallelism } from "node:os";
import { LoratuneError } from "../../errors.ts";
import { LARGE_BUFFER_BYTES, setAddressProbe, setHugePageAdvice } from "../../tensor/aligned.ts";
import { type StorageDType, WEIGHT_FORMATS, type WeightData, weightFormat } from "../../tensor/formats/index.ts";
import type { Kernels } from "../types.ts";
import { buildFromSourceCommand, locateAddon } from "./locate.ts";

export type NativeIsa = "generic" | "avx2" | "avx512";

/** How block-format weights multiply on a CPU with a bf16 dot product (LORATUNE_BLOCK_COMPUTE). */
export type BlockCompute = "bf16" | "f32";
const BLOCK_COMPUTES: readonly BlockCompute[] = ["bf16", "f32"];

const ISAS: readonly NativeIsa[] = ["generic", "avx2", "avx512"];

/** Every method the addon must provide (a stale build missing one is refused). */
const METHODS = [
  "matmulNT",
  "matmulNN",
  "matmulTN",
  "matmulWNT",
  "matmulWNN",
  "matvecWQ8",
  "embeddingWForward",
  "weightToF32",
  "weightFromF32",
  "addInPlace",
  "addBias",
  "biasBackward",
  "rmsnormForward",
  "rmsnormBackward",
  "ropeForward",
  "ropeBackward",
  "attentionForward",
  "attentionBackward",
  "attentionKV",
  "swigluForward",
  "swigluBackward",
  "embeddingBackward",
  "crossEntropy",
  "adamw",
  "zero",
  "copy",
  "scale",
  "axpy",
  "mul",
  "addMul",
  "sumSquares",
  "sum",
  "firstNonFinite",
  "bf16ToF32",
  "f32ToBf16",
  "f16ToF32",
  "f32ToF16",
] as const satisfies readonly (keyof Kernels)[];

type KernelMethods = Omit<Kernels, "name" | "isa" | "threads">;

/** The addon's weight entries: as in Kernels, with the format's id in place of its name. */
interface NativeWeightEntries {
  matmulWNT(
    o: Float32Array,
    a: Float32Array,
    b: WeightData,
    f: number,
    M: number,
    N: number,
    K: number,
    acc: boolean,
  ): void;
  matmulWNN(
    o: Float32Array,
    a: Float32Array,
    b: WeightData,
    f: number,
    M: number,
    N: number,
    K: number,
    acc: boolean,
  ): void;
  matvecWQ8(o: Float32Array, x: Float32Array, w: WeightData, f: number, N: number, K: number, acc: boolean): void;
  embeddingWForward(o: Float32Array, ids: Int32Array, t: WeightData, f: number, N: number, C: number): void;
  weightToF32(o: Float32Array, b: WeightData, f: number, n: number): void;
  weightFromF32(b: WeightData, f: number, inp: Float32Array, n: number): void;
}

/** Each format's id (ggml's type number) by its name in the registry: what the addon takes. */
const FORMAT_IDS: Readonly<Record<string, number>> = Object.freeze(
  Object.fromEntries(Object.entries(WEIGHT_FORMATS).map(([name, f]) => [name, f.id])),
);

/** The id the addon knows a format by; a name the registry lacks throws, naming the known ones. */
function formatId(name: StorageDType): number {
  const id = FORMAT_IDS[name];
  return id === undefined ? weightFormat(name).id : id;
}

/**
 * Kernels' weight entries over the addon's: the format's name becomes its id (the C++ dispatches on it). The addon's
 * functions are taken out of its method object once (a property lookup on it per call costs decode time).
 */
function weightEntries(n: NativeWeightEntries): Pick<Kernels, keyof NativeWeightEntries> {
  const { matmulWNT: wnt, matmulWNN: wnn, matvecWQ8: mv, embeddingWForward: emb } = n;
  const { weightToF32: toF32, weightFromF32: fromF32 } = n;
  return {
    matmulWNT: (out, a, b, f, M, N, K, acc) => wnt(out, a, b, formatId(f), M, N, K, acc),
    matmulWNN: (out, a, b, f, M, N, K, acc) => wnn(out, a, b, formatId(f), M, N, K, acc),
    matvecWQ8: (out, x, w, f, N, K, acc) => mv(out, x, w, formatId(f), N, K, acc),
    embeddingWForward: (out, ids, t, f, N, C) => emb(out, ids, t, formatId(f), N, C),
    weightToF32: (out, b, f, count) => toF32(out, b, formatId(f), count),
    weightFromF32: (b, f, inp, count) => fromF32(b, formatId(f), inp, count),
  };
}

interface NativeBinding {
  cpuIsas(): string[];
  hasBf16Dot(): boolean;
  /** Absent in builds older than this loader (they are still usable: buffers then stay as allocated). */
  addressMod?(buffer: ArrayBuffer, m: number): number;
  /** Absent in builds older than this loader (large buffers then stay on ordinary pages), as is the next. */
  adviseHugePages?(buffer: ArrayBuffer, bytes: number): number | null;
  mapLargeAllocations?(bytes: number): boolean;
  create(isa: string, threads: number, blockCompute?: BlockCompute): Record<string, unknown>;
}

let binding: NativeBinding | undefined;
let bindingError: string | undefined;
/** The file the addon was loaded from (set once it loads). */
let bindingPath: string | undefined;
const cache = new Map<string, Kernels>();
/** The blockCompute each native kernels object was made with. */
const blockComputeOf = new WeakMap<Kernels, BlockCompute>();

/**
 * Whether weights of 2 MiB or more go on 2 MiB pages (transparent huge pages, advised): yes unless
 * LORATUNE_HUGE_PAGES is "0" (for comparing, or a machine where huge-page faults stall). Yes also means glibc serves
 * every allocation of 2 MiB or more of this process from a fresh mapping (see native/glue/memory.inc).
 */
export function hugePagesWanted(env: NodeJS.ProcessEnv = process.env): boolean {
  const v = env.LORATUNE_HUGE_PAGES;
  if (v === undefined || v === "" || v === "1") return true;
  if (v === "0") return false;
  throw new LoratuneError("ERR_NATIVE", `LORATUNE_HUGE_PAGES must be 0 or 1 (got "${v}")`);
}

/** hugePagesWanted() for the loader, which must not throw: a bad value means no advice (kernel creation reports it). */
function hugePagesWantedQuietly(): boolean {
  try {
    return hugePagesWanted();
  } catch {
    return false;
  }
}

/** The addon, or undefined with bindingError set (no binary for this platform, unloadable binary). Loaded once. */
function getBinding(): NativeBinding | undefined {
  if (binding || bindingError) return binding;
  const where = locateAddon();
  if ("reason" in where) {
    bindingError = where.reason;
    return undefined;
  }
  try {
    binding = createRequire(import.meta.url)(where.path) as NativeBinding;
    bindingPath = where.path;
    const addressMod = binding.addressMod?.bind(binding);
    // Weights allocated from now on start on cache lines (src/tensor/aligned.ts).
    if (addressMod) setAddressProbe((buffer, m) => addressMod(buffer, m));
    // Large ones on 2 MiB pages on Linux (madvise), unless LORATUNE_HUGE_PAGES=0 (src/tensor/aligned.ts): the advice
    // needs fresh memory, so allocations of a huge page or more become mappings of their own first.
    const advise = binding.adviseHugePages?.bind(binding);
    if (advise && binding.mapLargeAllocations && process.platform === "linux" && hugePagesWantedQuietly()) {
      binding.mapLargeAllocations(LARGE_BUFFER_BYTES);
      setHugePageAdvice((buffer, bytes) => advise(buffer, bytes));
    }
  } catch (err) {
    bindingError = `the native addon ${where.path} failed to load: ${err instanceof Error ? err.message : String(err)}`;
  }
  return binding;
}

/**
 * Whether the addon's avx512 kernels multiply bf16 weights with vdpbf16ps (the CPU has AVX512_BF16): their products
 * then round the activations to bf16 (every other ISA widens the weights and keeps the activations exact). False when
 * the addon is unavailable.
 */
export function nativeHasBf16Dot(): boolean {
  return getBinding()?.hasBf16Dot() ?? false;
}

/** The file the native addon was loaded from, or undefined when it is unavailable. */
export function nativeAddonPath(): string | undefined {
  getBinding();
  return bindingPath;
}

/** Why the addon cannot be used, or undefined when it loads. */
export function nativeUnavailableReason(): string | undefined {
  getBinding();
  return bindingError;
}

/** ISAs this build and this CPU support, best last; empty when the addon is not available. */
export function nativeIsas(): NativeIsa[] {
  const b = getBinding();
  if (!b) return [];
  return b.cpuIsas().filter((isa): isa is NativeIsa => (ISAS as readonly string[]).includes(isa));
}

/**
 * The addon's huge-page advice for buffer[offset, offset + bytes), offset its first 2 MiB boundary (returned), or
 * null (no room, no such advice here, or no addon). Throws on a negative or fractional `bytes`.
 */
export function nativeAdviseHugePages(buffer: ArrayBuffer, bytes: number): number | null {
  const b = getBinding();
  return b?.adviseHugePages ? b.adviseHugePages(buffer, bytes) : null;
}

/** The address of `buffer`'s first byte mod m, or null when the addon (or this function in it) is unavailable. */
export function nativeAddressMod(buffer: ArrayBuffer, m: number): number | null {
  const b = getBinding();
  return b?.addressMod ? b.addressMod(buffer, m) : null;
}

/**
 * Native kernels for an explicitly chosen ISA and thread count (cached: the same object for the same settings);
 * blockCompute defaults to LORATUNE_BLOCK_COMPUTE, else "bf16". Throws LoratuneError ERR_NATIVE when the addon is
 * unavailable or the CPU lacks the ISA.
 */
export function createNativeKernels(
  isa: NativeIsa,
  threads: number,
  blockCompute: BlockCompute = blockComputeFromEnv(),
): Kernels {
  const key = `${isa}/${threads}/${blockCompute}`;
  const hit = cache.get(key);
  if (hit) return hit;
  const b = getBinding();
  if (!b) throw new LoratuneError("ERR_NATIVE", `native kernels unavailable: ${bindingError}`);
  if (!Number.isInteger(threads) || threads < 1 || threads > 1024) {
    throw new LoratuneError("ERR_NATIVE", `native kernels: threads must be an integer in [1, 1024] (got ${threads})`);
  }
  const supported = nativeIsas();
  if (!supported.includes(isa)) {
    throw new LoratuneError(
      "ERR_NATIVE",
      `native kernels: this CPU or build does not support ISA "${isa}" (supported: ${supported.join(", ")})`,
    );
  }
  const fns = b.create(isa, threads, blockCompute);
  const missing = METHODS.filter((m) => typeof fns[m] !== "function");
  if (missing.length > 0) {
    throw new LoratuneError(
      "ERR_NATIVE",
      `the native addon at ${bindingPath} is out of date (missing ${missing.join(", ")}); run '${buildFromSourceCommand()}'`,
    );
  }
  const kernels: Kernels = Object.freeze({
    name: "native" as const,
    isa,
    threads,
    ...(fns as unknown as KernelMethods),
    ...weightEntries(fns as unknown as NativeWeightEntries),
  });
  cache.set(key, kernels);
  blockComputeOf.set(kernels, blockCompute);
  return kernels;
}

/** LORATUNE_ISA, validated; undefined when unset (the best ISA is used). */
function isaFromEnv(): NativeIsa | undefined {
  const v = process.env.LORATUNE_ISA;
  if (v === undefined || v === "") return undefined;
  if (!(ISAS as readonly string[]).includes(v)) {
    throw new LoratuneError("ERR_NATIVE", `LORATUNE_ISA must be one of ${ISAS.join(", ")} (got "${v}")`);
  }
  return v as NativeIsa;
}

/** LORATUNE_BLOCK_COMPUTE, validated; "bf16" when unset. */
function blockComputeFromEnv(): BlockCompute {
  const v = process.env.LORATUNE_BLOCK_COMPUTE;
  if (v === undefined || v === "") return "bf16";
  if (!(BLOCK_COMPUTES as readonly string[]).includes(v)) {
    throw new LoratuneError(
      "ERR_NATIVE",
      `LORATUNE_BLOCK_COMPUTE must be one of ${BLOCK_COMPUTES.join(", ")} (got "${v}")`,
    );
  }
  return v as BlockCompute;
}

/**
 * Whether kernels `k` multiply block-format weights on the bf16 dot product (rounded to bf16): native avx512 kernels
 * made with blockCompute "bf16" on a CPU with AVX512_BF16. False for any other kernels.
 */
export function nativeBlocksOnBf16(k: Kernels): boolean {
  return k.isa === "avx512" && blockComputeOf.get(k) === "bf16" && nativeHasBf16Dot();
}

/** LORATUNE_THREADS, validated; defaults to every available core. */
function threadsFromEnv(): number {
  const v = process.env.LORATUNE_THREADS;
  if (v === undefined || v === "") return availableParallelism();
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1 || n > 1024) {
    throw new LoratuneError("ERR_NATIVE", `LORATUNE_THREADS must be an integer in [1, 1024] (got "${v}")`);
  }
  return n;
}

/**
 * Loads the C++ addon and adapts it to Kernels; `reason` says why not when it is not built or cannot load.
 * Throws LoratuneError ERR_NATIVE for a bad LORATUNE_ISA / LORATUNE_THREADS / LORATUNE_BLOCK_COMPUTE /
 * LORATUNE_HUGE_PAGES or an ISA this CPU lacks.
 */
export function loadNativeKernels(): { kernels?: Kernels; reason?: string } {
  const forced = isaFromEnv();
  const threads = threadsFromEnv();
  blockComputeFromEnv();
  hugePagesWanted();
  if (!getBinding()) return { reason: bindingError ?? "the native addon is unavailable" };
  const supported = nativeIsas();
  const isa = forced ?? supported[supported.length - 1];
  if (isa === undefined) return { reason: "the native addon reports no usable ISA" };
  return { kernels: createNativeKernels(isa, threads) };
}
