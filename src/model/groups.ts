/**
 * Sequence groups (model/activations.ts): a batch runs through each block in groups of whole sequences. A group
 * of sequences [b0, b0 + nb) is the rows [b0·T, (b0 + nb)·T) of every per-row buffer, and a batch of its own for
 * the family's layer code, which sees only its rows: views here, no copy. Every buffer the family sizes per row
 * (ActivationSpec.saved, scratch; rowSaved unless it holds one chunk) is viewed; the row chunk's buffers
 * (rowSaved with checkpointing, rowScratch) are already one chunk, used from their start, and are passed whole.
 * `lse` is [B, heads, T], so a group of whole sequences is contiguous in it too.
 */
import type { AdapterCache } from "../nn/adapter-hooks.ts";
import { type Activations, cacheRows, type LayerActivations } from "./activations.ts";
import type { Buffers } from "./arch/spec.ts";
import type { ModelInput } from "./forward.ts";
import type { Model } from "./model.ts";

/** Each group of `groupSeqs` sequences of a B-sequence batch as [first sequence, sequences]. */
export function* sequenceGroups(B: number, groupSeqs: number): Generator<[number, number]> {
  for (let b0 = 0; b0 < B; b0 += groupSeqs) yield [b0, Math.min(groupSeqs, B - b0)];
}

/** Sequences [b0, b0 + nb) of the batch as a batch of their own (views of its arrays). */
export function subInput(input: ModelInput, b0: number, nb: number): ModelInput {
  const [r0, r1] = [b0 * input.T, (b0 + nb) * input.T];
  return {
    B: nb,
    T: input.T,
    ids: input.ids.subarray(r0, r1),
    targets: input.targets.subarray(r0, r1),
    pos: input.pos.subarray(r0, r1),
    seg: input.seg ? input.seg.subarray(r0, r1) : null,
  };
}

/** Rows [r0, r0 + rows) of a buffer holding `capacity` rows. */
export function rowsOf(buf: Float32Array, capacity: number, r0: number, rows: number): Float32Array {
  const perRow = buf.length / capacity;
  return buf.subarray(r0 * perRow, (r0 + rows) * perRow);
}

/** The buffers of `all` by name, those named in `whole` as they are and the others' rows [r0, r0 + rows). */
function viewBuffers(all: Buffers, whole: Set<string>, capacity: number, r0: number, rows: number): Buffers {
  return Object.fromEntries(
    Object.entries(all).map(([name, b]) => [name, whole.has(name) ? b : rowsOf(b, capacity, r0, rows)]),
  );
}

/** The names of the family's row-chunk buffers (never viewed). */
function chunkNames(model: Model): { saved: Set<string>; scratch: Set<string> } {
  const spec = model.family.activations(model.config, 1);
  return { saved: new Set(Object.keys(spec.rowSaved)), scratch: new Set(Object.keys(spec.rowScratch)) };
}

/** Views of the arena for the rows of one group, for the family's layer forward and backward. */
export class GroupViews {
  private readonly names: { saved: Set<string>; scratch: Set<string> };

  constructor(
    model: Model,
    private readonly acts: Activations,
  ) {
    this.names = chunkNames(model);
  }

  /** Layer l's activations for rows [r0, r0 + rows). */
  layer(l: number, r0: number, rows: number): LayerActivations {
    const la = this.acts.layers[l]!;
    const N = this.acts.N;
    const adapters = new Map<string, AdapterCache>();
    for (const [name, cache] of la.adapters) adapters.set(name, cacheRows(cache, N, r0, rows)!);
    const whole = la.rowWindow ? this.names.saved : new Set<string>();
    return {
      resid: rowsOf(la.resid, N, r0, rows),
      saved: viewBuffers(la.saved, whole, N, r0, rows),
      adapters,
      rowChunk: la.rowChunk,
      rowWindow: la.rowWindow,
    };
  }

  /** The arena with its backward buffers (dres, dtmp, dxa, dlnf, per-row scratch) viewed at rows [r0, r0 + rows). */
  backward(r0: number, rows: number): Activations {
    const a = this.acts;
    const N = a.N;
    return {
      ...a,
      dres: rowsOf(a.dres, N, r0, rows),
      dtmp: rowsOf(a.dtmp, N, r0, rows),
      dxa: rowsOf(a.dxa, N, r0, rows),
      dlnf: rowsOf(a.dlnf, N, r0, rows),
      scratch: viewBuffers(a.scratch, this.names.scratch, N, r0, rows),
    };
  }
}
