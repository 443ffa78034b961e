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
 *
 * A batch runs through every block in groups of whole sequences (`groupSeqs`; model/groups.ts): attention never
 * crosses a sequence and every other op is row-wise, so a group needs only its own rows. Without checkpointing
 * the arena still holds every row (each block runs its groups one after another, in the same order as below).
 * With checkpointing the arena holds one group (`micro`): model/loss.ts runs the whole forward and backward of a
 * group before the next, so every buffer (the layers' saved inputs too) is one group's rows. Each parameter's
 * gradient then receives the same contributions in the same order as without checkpointing (a block's
 * parameters only from that block, group after group), so checkpointing still changes no value. Two things
 * would break that, and keep the batch in one group: adapter dropout (masks are drawn in the order the
 * linears run, block-major without checkpointing, group-major with it) and a trained embedding table that is
 * also the head (its gradient mixes head and embedding contributions, whose interleaving would differ). An arena
 * without gradients (evaluation, prefill) keeps one group too: it holds every row anyway.
 */
import type { AdapterCache, AdapterHooks } from "../nn/adapter-hooks.ts";
import type { BufferSizes, Buffers, ModelFamily } from "./arch/spec.ts";
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

/**
 * Sized for batches of at most B·T tokens (any smaller B' × T' batch runs in the same buffers); with `micro`,
 * model/loss.ts runs batches of up to batchRows rows in groups of B sequences.
 */
export interface Activations {
  B: number;
  T: number;
  /** Capacity in rows (B·T). */
  N: number;
  /** Activation checkpointing: layers share their saved buffers, and backward recomputes each layer's forward. */
  checkpoint: boolean;
  /** Sequences per group (see the header): blocks run a batch group by group. */
  groupSeqs: number;
  /** The arena holds one group (B = groupSeqs) of a larger batch, run group by group by model/loss.ts. */
  micro: boolean;
  /** Rows of the largest batch lossAndGrad and evalLossSum take (N, or with `micro` the whole batch's rows). */
  batchRows: number;
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
 * f32 values the loss chunk's logits buffer holds at most: 32 Mi values, 128 MiB. Each chunk's two head products
 * pack the whole head again, so a chunk must have rows enough to amortise it: Llama-3.2-1B's 128256-word head, bf16,
 * 4 × 256 rows (`bench --profile`, one quiet run each): chunks of 128 rows (a 64 MiB cap) ran the head products at
 * 219–248 GFLOP/s and the step in 18.1 s, chunks of 256 rows at 285–312 GFLOP/s and 16.4 s, for 67 MiB more peak RSS
 * (512 rows: 16.2 s, 199 MiB more).
 */
const LOSS_CHUNK_VALUES = 32 * 1024 * 1024;

/**
 * Rows per loss chunk: the (rows × V) logits buffer stays within LOSS_CHUNK_VALUES whatever the vocabulary, and the
 * chunks of an N-row batch are of equal size (no thin tail chunk, which runs the head matmul far below peak).
 */
export function lossChunkRows(N: number, V: number): number {
  const cap = Math.max(1, Math.min(N, Math.floor(LOSS_CHUNK_VALUES / V)));
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

/** The rows a chunk (or group) aims at when its widest per-row buffer holds `width` values. */
const rowTarget = (width: number) => Math.max(ROW_CHUNK_MIN, Math.floor(ROW_CHUNK_VALUES / Math.max(1, width)));

/**
 * Rows per chunk of the blocks' row-wise tail for N rows whose widest per-row buffer holds `width` values: chunks
 * of equal size, each at least the rows that fill that buffer to 8 MiB and at least ROW_CHUNK_MIN (fewer than
 * twice that; all N rows when N is smaller). Llama-3.2-1B (intermediate 8192), 4 × 512 rows: 4 chunks of 512.
 */
export function rowChunkRows(N: number, width: number): number {
  return Math.ceil(N / Math.max(1, Math.floor(N / rowTarget(width))));
}

/**
 * Sequences per group of a B × T batch whose widest per-row saved buffer holds `width` values: groups of equal
 * size (as rowChunkRows), each at least the whole sequences that reach the rows of a row chunk; all B when
 * fewer. Llama-3.2-1B at 4 × 512: 4 groups of one sequence; SmolLM2-135M at 4 × 256: one group of 4.
 */
export function groupSequences(B: number, T: number, width: number): number {
  const per = Math.max(1, Math.ceil(rowTarget(width) / Math.max(1, T)));
  return Math.ceil(B / Math.max(1, Math.floor(B / per)));
}

export interface ArenaOptions {
  /** Gradient buffers too (training); false for evaluation. Default true. */
  withGrad?: boolean;
  /** Activation checkpointing (training with --grad-checkpoint). Default false. */
  checkpoint?: boolean;
  /** Rows per chunk of the row-wise tail instead of rowChunkRows' (tests: several chunks on a small batch). */
  rowChunk?: number;
  /** Sequences per group instead of groupSequences' (tests: several groups on a small batch). */
  groupSeqs?: number;
  /**
   * With checkpointing, an arena for the whole batch rather than one group: for callers that run forward over
   * the whole batch before its backward (preference tuning weighs each sequence's gradient by the whole batch).
   */
  wholeBatch?: boolean;
}

/** What keeps a batch in one group (see the header): adapter dropout masks, a trained table that is also the head. */
export interface GroupBlockers {
  masks: boolean;
  tiedTableTrains: boolean;
}

/** How an arena for a B × T batch is laid out. */
interface Layout {
  groupSeqs: number;
  micro: boolean;
  /** Sequences the buffers hold: B, or with `micro` one group. */
  seqs: number;
  rowChunk: number;
  lossRows: number;
}

function layoutOf(
  c: ModelConfig,
  family: ModelFamily,
  B: number,
  T: number,
  o: ArenaOptions,
  blockers: GroupBlockers,
): Layout {
  // Per-row widths: the family's sizes for one row.
  const perRow = family.activations(c, 1);
  const tailWidth = Math.max(0, ...Object.values(perRow.rowSaved));
  const width = Math.max(tailWidth, ...Object.values(perRow.saved));
  let groupSeqs = o.groupSeqs !== undefined ? Math.max(1, Math.min(B, o.groupSeqs)) : groupSequences(B, T, width);
  // Without gradients (evaluation, prefill) nothing is gained: every row stays, and one group runs longer products.
  if (blockers.masks || blockers.tiedTableTrains || !(o.withGrad ?? true)) groupSeqs = B;
  const micro = (o.checkpoint ?? false) && !(o.wholeBatch ?? false) && groupSeqs < B;
  const G = Math.min(B, groupSeqs) * T;
  const rowChunk = o.rowChunk !== undefined ? Math.max(1, Math.min(G, o.rowChunk)) : rowChunkRows(G, tailWidth);
  return { groupSeqs, micro, seqs: micro ? groupSeqs : B, rowChunk, lossRows: lossChunkRows(G, c.vocabSize) };
}

/** Whether the model's trained embedding table is also its head (GroupBlockers.tiedTableTrains). */
const tiedTableTrains = (model: Model) => model.dEmbed !== null && model.lmHead === model.embed;

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
  const adapters = model.linears.map((l) => l.adapter);
  const blockers = { masks: adapterRows(adapters, withGrad).masks, tiedTableTrains: tiedTableTrains(model) };
  const layout = layoutOf(c, model.family, B, T, o, blockers);
  const N = layout.seqs * T;
  const C = c.hiddenSize;
  const spec = model.family.activations(c, N);
  const rowChunk = layout.rowChunk;
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
  const rowsPerChunk = layout.lossRows;
  return {
    B: layout.seqs,
    T,
    N,
    checkpoint,
    groupSeqs: layout.groupSeqs,
    micro: layout.micro,
    batchRows: B * T,
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
    dxa: grad(N * scratchPerRow(adapters)),
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
  /**
   * Whether an adapter draws dropout masks (GroupBlockers.masks): one whose training forward keeps more per row
   * than its evaluation forward (LoRA and DoRA keep their masks only then).
   */
  masks: boolean;
}

/** The AdapterRows of attached adapters (null: a linear without one). */
export function adapterRows(adapters: (ArenaNeeds | null)[], withGrad: boolean): AdapterRows {
  let cacheValues = 0;
  let masks = false;
  for (const a of adapters) {
    if (!a) continue;
    const values = total(a.cacheSizes(withGrad));
    cacheValues += values;
    if (withGrad && values > total(a.cacheSizes(false))) masks = true;
  }
  return { cacheValues, scratchValues: scratchPerRow(adapters), masks };
}

/** Bytes allocateActivations(model, B, T, o) will take, without allocating. */
export function activationBytes(model: Model, B: number, T: number, o: ArenaOptions = {}): number {
  const rows = adapterRows(
    model.linears.map((l) => l.adapter),
    o.withGrad ?? true,
  );
  return arenaBytes(model.config, model.family, rows, B, T, o, tiedTableTrains(model));
}

/**
 * Bytes of the arena of a model of `config` with adapters needing `rows`, from the config alone (no model);
 * `tableTrains`: the model's embedding table trains and is also its head (GroupBlockers.tiedTableTrains).
 */
export function arenaBytes(
  c: ModelConfig,
  family: ModelFamily,
  rows: AdapterRows,
  B: number,
  T: number,
  o: ArenaOptions = {},
  tableTrains = false,
): number {
  const withGrad = o.withGrad ?? true;
  const layout = layoutOf(c, family, B, T, o, { masks: rows.masks, tiedTableTrains: tableTrains });
  const N = layout.seqs * T;
  const C = c.hiddenSize;
  const spec = family.activations(c, N);
  const rowChunk = layout.rowChunk;
  const tail = total(spec.rowSaved);
  const layerBuffers = o.checkpoint
    ? c.numLayers * N * C + total(spec.saved) + rowChunk * tail
    : c.numLayers * (N * C + total(spec.saved) + N * tail);
  const adapters = N * rows.cacheValues;
  const fixed = 2 * N * C + total(spec.top) + N + layout.lossRows * c.vocabSize;
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
