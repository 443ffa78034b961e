/**
 * The activation arena for one (B, T) shape: every buffer forward saves for backward and every scratch buffer
 * backward needs, allocated once and reused every step (no allocation in the training loop).
 * N = B·T rows; C hidden; V vocab. The family names its own buffers (ActivationSpec, model/arch/spec.ts); the
 * ones here are those every family has.
 *
 * Each adapted linear gets the buffers its adapter asks for (AdapterHooks.cacheSizes, f32 values per row), and
 * backward one shared scratch buffer sized for the largest adapter (`dxa`).
 *
 * With activation checkpointing each layer keeps only its input (`resid`) and its adapters' state; the family's
 * saved buffers are one set shared by every layer, which backward refills by running the layer's forward
 * again just before its backward (one extra forward of the layers for L − 1 layers' worth of memory).
 *
 * A block's row-wise tail (the MLP, whose rows are computed independently) runs in chunks of `rowChunk` rows
 * (rowChunkRows), forward and backward, so its backward scratch is one chunk's rows; with checkpointing its saved
 * buffers are one chunk's rows too, recomputed chunk by chunk in backward (the MLP's [N, intermediate] buffers
 * are most of a layer's activations).
 */
import type { AdapterCache, AdapterHooks } from "../nn/adapter-hooks.ts";
import type { ActivationSpec, BufferSizes, Buffers, ModelFamily } from "./arch/spec.ts";
import type { ModelConfig } from "./config.ts";
import type { Model } from "./model.ts";

export interface LayerActivations {
  resid: Float32Array; // [N, C] the layer's input (residual stream)
  /** What the family's layer forward saves for backward (its ActivationSpec.saved). */
  saved: Buffers;
  /** Adapter state per adapted linear, keyed by the linear's name (never shared: dropout masks are replayed). */
  adapters: Map<string, AdapterCache>;
  /** Rows per chunk of the row-wise tail (Activations.rowChunk). */
  rowChunk: number;
  /**
   * Whether the saved buffers of the row-wise tail (ActivationSpec.rowSaved, in `saved`) hold one chunk's rows
   * (checkpointing: backward recomputes them) rather than every row.
   */
  rowWindow: boolean;
}

/** Sized for batches of at most B·T tokens (any smaller B' × T' batch runs in the same buffers). */
export interface Activations {
  B: number;
  T: number;
  /** Capacity in rows (B·T). */
  N: number;
  /** Activation checkpointing: layers share their saved buffers, and backward recomputes each layer's forward. */
  checkpoint: boolean;
  layers: LayerActivations[];
  final: Float32Array; // [N, C] residual after the last layer
  lnf: Float32Array; // [N, C] the final norm's output
  /** Rows per chunk of the blocks' row-wise tail (rowChunkRows). */
  rowChunk: number;
  /** What the final norm saves (the family's ActivationSpec.top). */
  top: Buffers;
  /** Logits of one loss chunk [rowsPerChunk, V]. */
  logits: Float32Array;
  rowsPerChunk: number;
  losses: Float32Array; // [N]
  // backward scratch
  dres: Float32Array; // [N, C] gradient of the residual stream
  dtmp: Float32Array; // [N, C] (also the output of a recomputed layer with checkpointing)
  /** Adapter backward scratch [N, the largest adapter's scratchPerRow] (LoRA: r). */
  dxa: Float32Array;
  dlnf: Float32Array; // [N, C]
  /** The family's backward scratch (its ActivationSpec.scratch, and rowScratch for rowChunk rows). */
  scratch: Buffers;
  bytes: number;
}

/**
 * Rows per loss chunk: the (rows × V) logits buffer stays near 64 MB whatever the vocabulary, and the chunks of
 * an N-row batch are of equal size (no thin tail chunk, which runs the head matmul far below peak).
 */
export function lossChunkRows(N: number, V: number): number {
  const cap = Math.max(1, Math.min(N, Math.floor((16 * 1024 * 1024) / V)));
  return Math.ceil(N / Math.ceil(N / cap));
}

/** f32 values a chunk of the row-wise tail keeps in its widest buffer: 2 Mi values, 8 MiB. */
const ROW_CHUNK_VALUES = 2 * 1024 * 1024;

/**
 * Fewest rows in a chunk of the row-wise tail. Each product of a chunk converts (packs) the whole weight again, and
 * a block format decodes it again: about 1/(2·rows) of the product's work, so chunks stay long. llama512 (hidden
 * 512, intermediate 1536), 4 × 512 rows, one busy 2-core run: chunks of 256 rows trained at 0.79× (bf16) and
 * 0.81× (q4_k) the tokens/s of one chunk.
 */
const ROW_CHUNK_MIN = 512;

/**
 * Rows per chunk of the blocks' row-wise tail for N rows whose widest per-row buffer holds `width` values: chunks
 * of equal size, each at least the rows that fill that buffer to 8 MiB and at least ROW_CHUNK_MIN (fewer than
 * twice that; all N rows when N is smaller). Llama-3.2-1B (intermediate 8192), 4 × 512 rows: 4 chunks of 512.
 */
export function rowChunkRows(N: number, width: number): number {
  const target = Math.max(ROW_CHUNK_MIN, Math.floor(ROW_CHUNK_VALUES / Math.max(1, width)));
  return Math.ceil(N / Math.max(1, Math.floor(N / target)));
}

export interface ArenaOptions {
  /** Gradient buffers too (training); false for evaluation. Default true. */
  withGrad?: boolean;
  /** Activation checkpointing (training with --grad-checkpoint). Default false. */
  checkpoint?: boolean;
  /** Rows per chunk of the row-wise tail instead of rowChunkRows' (tests: several chunks on a small batch). */
  rowChunk?: number;
}

/** The row chunk of an arena for N rows (ArenaOptions.rowChunk, else rowChunkRows over the widest tail buffer). */
function rowChunkOf(spec: ActivationSpec, N: number, o: ArenaOptions): number {
  if (o.rowChunk !== undefined) return Math.max(1, Math.min(N, o.rowChunk));
  return rowChunkRows(N, Math.max(0, ...Object.values(spec.rowSaved)));
}

/** Per-row sizes times N rows. */
const mapSizes = (perRow: BufferSizes, N: number): BufferSizes =>
  Object.fromEntries(Object.entries(perRow).map(([name, n]) => [name, N * n]));

const total = (sizes: BufferSizes) => Object.values(sizes).reduce((a, b) => a + b, 0);

/** Backward scratch per row for these adapters: the largest need (at least 1). */
/** The part of an adapter's hooks that sizes the arena. */
export type ArenaNeeds = Pick<AdapterHooks, "cacheSizes" | "scratchPerRow">;

const scratchPerRow = (adapters: (ArenaNeeds | null)[]) =>
  adapters.reduce((m, a) => (a ? Math.max(m, a.scratchPerRow) : m), 1);

export function allocateActivations(model: Model, B: number, T: number, o: ArenaOptions = {}): Activations {
  const withGrad = o.withGrad ?? true;
  const checkpoint = o.checkpoint ?? false;
  const c = model.config;
  const N = B * T;
  const C = c.hiddenSize;
  const spec = model.family.activations(c, N);
  const rowChunk = rowChunkOf(spec, N, o);
  let bytes = 0;
  const f32 = (n: number): Float32Array => {
    bytes += n * 4;
    return new Float32Array(n);
  };
  const grad = (n: number): Float32Array => (withGrad ? f32(n) : new Float32Array(0));
  const buffers = (sizes: BufferSizes, make: (n: number) => Float32Array): Buffers =>
    Object.fromEntries(Object.entries(sizes).map(([name, n]) => [name, make(n)]));
  // The saved set of one block: with checkpointing one set for every block, the tail's part one chunk's rows.
  const savedSet = () => ({
    ...buffers(spec.saved, f32),
    ...buffers(mapSizes(spec.rowSaved, checkpoint ? rowChunk : N), f32),
  });
  const shared = checkpoint ? savedSet() : null;
  const layers: LayerActivations[] = model.layers.map((layer) => {
    const adapters = new Map<string, AdapterCache>();
    for (const lin of model.family.blockLinears(layer)) {
      if (!lin.adapter) continue;
      adapters.set(lin.name, buffers(mapSizes(lin.adapter.cacheSizes(withGrad), N), f32));
    }
    return { resid: f32(N * C), saved: shared ?? savedSet(), adapters, rowChunk, rowWindow: checkpoint };
  });
  const rowsPerChunk = lossChunkRows(N, c.vocabSize);
  return {
    B,
    T,
    N,
    checkpoint,
    layers,
    rowChunk,
    final: f32(N * C),
    lnf: f32(N * C),
    top: buffers(spec.top, f32),
    logits: f32(rowsPerChunk * c.vocabSize),
    rowsPerChunk,
    losses: f32(N),
    dres: grad(N * C),
    dtmp: grad(N * C),
    dxa: grad(N * scratchPerRow(model.linears.map((l) => l.adapter))),
    dlnf: grad(N * C),
    scratch: { ...buffers(spec.scratch, grad), ...buffers(mapSizes(spec.rowScratch, rowChunk), grad) },
    bytes,
  };
}

/**
 * What adapters add to the arena per row: their cache values summed over the adapted linears, and the largest
 * backward scratch (at least 1, as allocateActivations sizes `dxa`).
 */
export interface AdapterRows {
  cacheValues: number;
  scratchValues: number;
}

/** The AdapterRows of attached adapters (null: a linear without one). */
export function adapterRows(adapters: (ArenaNeeds | null)[], withGrad: boolean): AdapterRows {
  let cacheValues = 0;
  for (const a of adapters) if (a) cacheValues += total(a.cacheSizes(withGrad));
  return { cacheValues, scratchValues: scratchPerRow(adapters) };
}

/** Bytes allocateActivations(model, B, T, o) will take, without allocating. */
export function activationBytes(model: Model, B: number, T: number, o: ArenaOptions = {}): number {
  const rows = adapterRows(
    model.linears.map((l) => l.adapter),
    o.withGrad ?? true,
  );
  return arenaBytes(model.config, model.family, rows, B, T, o);
}

/** Bytes of the arena of a model of `config` with adapters needing `rows`, from the config alone (no model). */
export function arenaBytes(
  c: ModelConfig,
  family: ModelFamily,
  rows: AdapterRows,
  B: number,
  T: number,
  o: ArenaOptions = {},
): number {
  const withGrad = o.withGrad ?? true;
  const N = B * T;
  const C = c.hiddenSize;
  const spec = family.activations(c, N);
  const rowChunk = rowChunkOf(spec, N, o);
  const tail = total(spec.rowSaved);
  const layerBuffers = o.checkpoint
    ? c.numLayers * N * C + total(spec.saved) + rowChunk * tail
    : c.numLayers * (N * C + total(spec.saved) + N * tail);
  const adapters = N * rows.cacheValues;
  const fixed = 2 * N * C + total(spec.top) + N + lossChunkRows(N, c.vocabSize) * c.vocabSize;
  const scratch = total(spec.scratch) + rowChunk * total(spec.rowScratch);
  const grads = withGrad ? 3 * N * C + N * rows.scratchValues + scratch : 0;
  return 4 * (layerBuffers + adapters + fixed + grads);
}

/** Rows [r0, r0 + rows) of an adapter cache allocated for `capacity` rows: views into its buffers, no copy. */
export function cacheRows(cache: AdapterCache | null, capacity: number, r0: number, rows: number): AdapterCache | null {
  if (cache === null) return null;
  const out: Record<string, Float32Array> = {};
  for (const [name, buf] of Object.entries(cache)) {
    const perRow = buf.length / capacity;
    out[name] = buf.subarray(r0 * perRow, (r0 + rows) * perRow);
  }
  return out;
}
