/**
 * The Llama block's MLP, out = h + down(silu(gate(ln2)) ⊙ up(ln2)) with ln2 = rmsnorm(h), forward and backward in
 * chunks of rows (LayerActivations.rowChunk): every row is computed on its own, so a chunk needs only its own rows,
 * and the [rows, F] buffers are sized for a chunk instead of the batch. The saved buffers (ActivationSpec.rowSaved)
 * hold every row, or with checkpointing (rowWindow) one chunk's rows, which backward recomputes from h just before
 * that chunk's backward. Both ways run the same products on the same rows in the same order (dropout masks are
 * drawn chunk by chunk, linear by linear), so checkpointing changes no value.
 * N rows; C hidden; F intermediate.
 */
import type { Kernels } from "../../kernels/types.ts";
import { type DropoutSource, linearBackward, linearForward } from "../../nn/linear.ts";
import { type Activations, cacheRows, type LayerActivations } from "../activations.ts";
import type { Model } from "../model.ts";
import type { LlamaLayer, LlamaTop } from "./llama-style.ts";

type LlamaModel = Model<LlamaLayer, LlamaTop>;

/** One chunk's rows of the MLP's saved buffers. */
interface MlpRows {
  ln2: Float32Array; // [rows, C]
  rstd2: Float32Array; // [rows]
  gate: Float32Array; // [rows, F]
  up: Float32Array; // [rows, F]
  act: Float32Array; // [rows, F]
}

/** The chunk [r0, r0 + rows) of what the MLP saves: at r0, or at 0 when the buffers hold one chunk. */
function savedRows(la: LayerActivations, r0: number, rows: number, C: number, F: number): MlpRows {
  const o = la.rowWindow ? 0 : r0;
  const s = la.saved;
  const at = (b: Float32Array, width: number) => b.subarray(o * width, (o + rows) * width);
  return { ln2: at(s.ln2!, C), rstd2: at(s.rstd2!, 1), gate: at(s.gate!, F), up: at(s.up!, F), act: at(s.act!, F) };
}

/** Each chunk of the batch's N rows as [r0, rows]. */
function* chunks(N: number, chunk: number): Generator<[number, number]> {
  for (let r0 = 0; r0 < N; r0 += chunk) yield [r0, Math.min(chunk, N - r0)];
}

/** ln2, gate, up and act of one chunk from its rows of h. */
function mlpHidden(
  k: Kernels,
  model: LlamaModel,
  w: LlamaLayer,
  la: LayerActivations,
  m: MlpRows,
  h: Float32Array,
  r0: number,
  rows: number,
  dropout: DropoutSource,
): void {
  const c = model.config;
  const capacity = la.resid.length / c.hiddenSize;
  const lc = (name: string) => cacheRows(la.adapters.get(name) ?? null, capacity, r0, rows);
  k.rmsnormForward(m.ln2, m.rstd2, h, w.postNorm.data, rows, c.hiddenSize, c.normEps);
  linearForward(k, m.gate, m.ln2, w.gate, rows, lc(w.gate.name), dropout);
  linearForward(k, m.up, m.ln2, w.up, rows, lc(w.up.name), dropout);
  k.swigluForward(m.act, m.gate, m.up, rows * c.intermediateSize);
}

/** out[N, C] = h + MLP(h) for the N rows of a.h (the block's residual after attention), chunk by chunk. */
export function llamaMlpForward(
  k: Kernels,
  model: LlamaModel,
  w: LlamaLayer,
  la: LayerActivations,
  out: Float32Array,
  N: number,
  dropout: DropoutSource,
): void {
  const C = model.config.hiddenSize;
  const F = model.config.intermediateSize;
  const capacity = la.resid.length / C;
  const h = la.saved.h!;
  for (const [r0, rows] of chunks(N, la.rowChunk)) {
    const m = savedRows(la, r0, rows, C, F);
    const hRows = h.subarray(r0 * C, (r0 + rows) * C);
    const outRows = out.subarray(r0 * C, (r0 + rows) * C);
    mlpHidden(k, model, w, la, m, hRows, r0, rows, dropout);
    const downCache = cacheRows(la.adapters.get(w.down.name) ?? null, capacity, r0, rows);
    linearForward(k, outRows, m.act, w.down, rows, downCache, dropout);
    k.addInPlace(outRows, hRows, rows * C);
  }
}

/**
 * On entry acts.dres = d(out); on exit acts.dres = d(h), chunk by chunk (recomputing each chunk's hidden buffers
 * first with checkpointing). The adapters' and the norm's gradients accumulate.
 */
export function llamaMlpBackward(
  k: Kernels,
  model: LlamaModel,
  w: LlamaLayer,
  la: LayerActivations,
  acts: Activations,
  N: number,
): void {
  const C = model.config.hiddenSize;
  const F = model.config.intermediateSize;
  const capacity = la.resid.length / C;
  const { dres, dtmp, dxa } = acts;
  const s = acts.scratch;
  const h = la.saved.h!;
  for (const [r0, rows] of chunks(N, la.rowChunk)) {
    const m = savedRows(la, r0, rows, C, F);
    const span = (b: Float32Array) => b.subarray(r0 * C, (r0 + rows) * C);
    const [hRows, dresRows, dlnRows, dtmpRows] = [span(h), span(dres), span(s.dln!), span(dtmp)];
    if (la.rowWindow) mlpHidden(k, model, w, la, m, hRows, r0, rows, "replay");
    const lc = (name: string) => cacheRows(la.adapters.get(name) ?? null, capacity, r0, rows);
    const [dact, dgate, dup] = [s.dact!, s.dgate!, s.dup!].map((b) => b.subarray(0, rows * F)) as [
      Float32Array,
      Float32Array,
      Float32Array,
    ];
    linearBackward(k, dact, dresRows, m.act, w.down, rows, lc(w.down.name), dxa, false);
    k.swigluBackward(dgate, dup, dact, m.gate, m.up, rows * F);
    linearBackward(k, dlnRows, dgate, m.ln2, w.gate, rows, lc(w.gate.name), dxa, false);
    linearBackward(k, dlnRows, dup, m.ln2, w.up, rows, lc(w.up.name), dxa, true);
    k.rmsnormBackward(dtmpRows, w.postNorm.grad, dlnRows, hRows, w.postNorm.data, m.rstd2, rows, C);
    k.addInPlace(dresRows, dtmpRows, rows * C); // dres = d(h)
  }
}
