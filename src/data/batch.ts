/**
 * Truncation, batching, padding and packing of Examples into the Batch the trainer consumes.
 *
 * Layout of a Batch (row-major [B, T]):
 *   ids[b*T+t]      token id; padding = padId (the tokenizer's pad id, or 0)
 *   targets[b*T+t]  labels[t+1] of the same example; -100 at an example's last position, on padding, and
 *                   where the label is masked. Padding therefore never contributes to the loss.
 *   pos[b*T+t]      position id, restarting at 0 for each packed example; 0 on padding
 *   seg[b*T+t]      (packed only) index of the example within its row, 0, 1, 2, …; -1 on padding.
 *                   Attention must only connect tokens with equal seg (and causal order).
 *
 * Plans (which examples go in which row of which batch) are deterministic given the seed, so a trainer
 * can resume mid-epoch by rebuilding the plan and skipping the batches already done.
 */
import { LoratuneError } from "../errors.ts";
import { Rng, shuffleInPlace } from "../tensor/rng.ts";
import type { Example } from "./encode.ts";

export interface Batch {
  B: number;
  T: number;
  ids: Int32Array;
  targets: Int32Array;
  pos: Int32Array;
  seg: Int32Array | null;
  nLabelTokens: number;
}

export interface BatchOptions {
  /** Rows per batch. */
  batchSize: number;
  /** Maximum tokens per row (and the T of packed batches). */
  seqLen: number;
  /** Concatenate several examples per row (with seg ids and restarted positions). Default false. */
  pack?: boolean;
  /** Shuffle example order (deterministic given `seed`). Default false. */
  shuffle?: boolean;
  seed?: number;
  /** Drop a last batch that has fewer than batchSize rows. Default false. */
  dropLast?: boolean;
  /** Unpacked batches: pad every row to seqLen instead of to the batch's longest row. Default false. */
  padToSeqLen?: boolean;
  /** Token id written on padding (default 0). */
  padId?: number;
}

const IGNORE = -100;

/** Keep the first `seqLen` tokens of an example. `truncated` says whether anything was cut. */
export function truncateExample(ex: Example, seqLen: number): { example: Example; truncated: boolean } {
  if (ex.ids.length <= seqLen) return { example: ex, truncated: false };
  return { example: { ids: ex.ids.slice(0, seqLen), labels: ex.labels.slice(0, seqLen) }, truncated: true };
}

/** Number of positions whose target is a label (labels[t] for t >= 1 that are not -100). */
export function countTargets(ex: Example): number {
  let n = 0;
  for (let t = 1; t < ex.labels.length; t++) if (ex.labels[t] !== IGNORE) n++;
  return n;
}

/**
 * Plan the batches of one pass over examples with these lengths: plan[batch][row] = example indices.
 * Unpacked: one example per row. Packed: examples are taken in (shuffled) order and appended to the current
 * row while they fit in seqLen, otherwise a new row starts.
 */
export function planBatches(lengths: ArrayLike<number>, opts: BatchOptions): number[][][] {
  checkOptions(opts);
  const order = Array.from({ length: lengths.length }, (_, i) => i);
  if (opts.shuffle) shuffleInPlace(order, new Rng(opts.seed ?? 0));
  const rows: number[][] = [];
  let row: number[] = [];
  let used = 0;
  for (const i of order) {
    const len = lengths[i] as number;
    if (len > opts.seqLen) {
      throw new LoratuneError(
        "ERR_DATA",
        `example ${i} has ${len} tokens, more than seqLen ${opts.seqLen}; truncate it first`,
      );
    }
    if (len === 0) continue;
    if (!opts.pack) {
      rows.push([i]);
      continue;
    }
    if (used + len > opts.seqLen && row.length > 0) {
      rows.push(row);
      row = [];
      used = 0;
    }
    row.push(i);
    used += len;
  }
  if (row.length > 0) rows.push(row);
  const plan: number[][][] = [];
  for (let r = 0; r < rows.length; r += opts.batchSize) plan.push(rows.slice(r, r + opts.batchSize));
  const last = plan[plan.length - 1];
  if (opts.dropLast && last && last.length < opts.batchSize) plan.pop();
  return plan;
}

/** Build one Batch from planned rows (each row = example indices laid out left to right). */
export function collate(examples: Example[], rows: number[][], opts: BatchOptions): Batch {
  const pack = opts.pack ?? false;
  let T = opts.seqLen;
  if (!pack && !opts.padToSeqLen) {
    T = 1;
    for (const row of rows) T = Math.max(T, rowLength(examples, row));
  }
  const B = rows.length;
  const ids = new Int32Array(B * T).fill(opts.padId ?? 0);
  const targets = new Int32Array(B * T).fill(IGNORE);
  const pos = new Int32Array(B * T);
  const seg = pack ? new Int32Array(B * T).fill(-1) : null;
  let nLabelTokens = 0;
  for (let b = 0; b < B; b++) {
    let o = b * T;
    const row = rows[b] as number[];
    for (let s = 0; s < row.length; s++) {
      const ex = examples[row[s] as number] as Example;
      const L = ex.ids.length;
      if (o + L > (b + 1) * T) throw new LoratuneError("ERR_DATA", `row ${b} of the batch does not fit in T=${T}`);
      for (let t = 0; t < L; t++) {
        ids[o + t] = ex.ids[t] as number;
        pos[o + t] = t;
        const y = t + 1 < L ? (ex.labels[t + 1] as number) : IGNORE;
        targets[o + t] = y;
        if (y !== IGNORE) nLabelTokens++;
      }
      if (seg) seg.fill(s, o, o + L);
      o += L;
    }
  }
  return { B, T, ids, targets, pos, seg, nLabelTokens };
}

/** All batches of one pass over `examples` (see planBatches for the order, collate for the layout). */
export function makeBatches(examples: Example[], opts: BatchOptions): Batch[] {
  const plan = planBatches(
    examples.map((e) => e.ids.length),
    opts,
  );
  return plan.map((rows) => collate(examples, rows, opts));
}

function rowLength(examples: Example[], row: number[]): number {
  let n = 0;
  for (const i of row) n += (examples[i] as Example).ids.length;
  return n;
}

function checkOptions(opts: BatchOptions): void {
  if (!Number.isInteger(opts.batchSize) || opts.batchSize < 1) {
    throw new LoratuneError("ERR_USAGE", `batch size must be a positive integer, got ${opts.batchSize}`);
  }
  if (!Number.isInteger(opts.seqLen) || opts.seqLen < 2) {
    throw new LoratuneError("ERR_USAGE", `sequence length must be an integer >= 2, got ${opts.seqLen}`);
  }
}
