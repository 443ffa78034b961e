/**
 * The Llama block's MLP, out = h + down(silu(gate(ln2)) ⊙ up(ln2)) (Gemma: gelu_tanh for silu) with ln2 = rmsnorm(h), forward and backward in
 * chunks of rows (LayerActivations.rowChunk): every row is computed on its own, so a chunk needs only its own rows,
 * and the [rows, F] buffers are sized for a chunk instead of the batch. The saved buffers (ActivationSpec.rowSaved)
 * hold every row, or with checkpointing (rowWindow) one chunk's rows, which backward recomputes from h just before
 * that chunk's backward. Both ways run the same products on the same rows in the same order (dropout masks are
 * drawn chunk by chunk, linear by linear), so checkpointing changes no value.
 * N rows; C hidden; F intermediate.
 */
import type { Kernels } from "../../kernels/types.ts";
import { gegluBackward, gegluForward } from "../../nn/geglu.ts";
import { type DropoutSource, linearBackward, linearForward } from "../../nn/linear.ts";
import { type Activations, cacheRows, type LayerActivations } from "../activations.ts";
import type { Model } from "../model.ts";
import type { LlamaArch, LlamaLayer, LlamaTop } from "./llama-style.ts";

type LlamaModel = Model<LlamaLayer, LlamaTop>;

/** out[n] = act(gate) ⊙ up with the family's gate activation (SwiGLU, or Gemma's GeGLU). `out` may alias `gate`. */
export function mlpActForward(
  k: Kernels,
  model: LlamaModel,
  out: Float32Array,
  gate: Float32Array,
  up: Float32Array,
  n: number,
): void {
  if ((model.config.arch as LlamaArch).mlpAct === "gelu_tanh") gegluForward(out, gate, up, n);
  else k.swigluForward(out, gate, up, n);
}

/** dgate, dup (overwritten) of mlpActForward from dact and the forward's gate, up; SwiGLU's dup may alias up. */
function mlpActBackward(
  k: Kernels,
  model: LlamaModel,
  dgate: Float32Array,
  dup: Float32Array,
  dact: Float32Array,
  gate: Float32Array,
  up: Float32Array,
  n: number,
): void {
  if ((model.config.arch as LlamaArch).mlpAct === "gelu_tanh") gegluBackward(dgate, dup, dact, gate, up, n);
  else k.swigluBackward(dgate, dup, dact, gate, up, n);
}

/**
 * The scale an RMSNorm of the family applies: the weight itself, or (Gemma) normOffset + w as a fresh f32 array. Its
 * gradient is the weight's gradient either way.
 */
export function normScale(model: LlamaModel, w: Float32Array): Float32Array {
  const offset = (model.config.arch as LlamaArch).normOffset;
  if (offset === 0) return w;
  return Float32Array.from(w, (v) => offset + v);
}

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
  k.rmsnormForward(m.ln2, m.rstd2, h, normScale(model, w.postNorm.data), rows, c.hiddenSize, c.normEps);
  linearForward(k, m.gate, m.ln2, w.gate, rows, lc(w.gate.name), dropout);
  linearForward(k, m.up, m.ln2, w.up, rows, lc(w.up.name), dropout);
  mlpActForward(k, model, m.act, m.gate, m.up, rows * c.intermediateSize);
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
    const dact = s.dact!.subarray(0, rows * F);
    linearBackward(k, dact, dresRows, m.act, w.down, rows, lc(w.down.name), dxa, false);
    // act is no longer needed once down's backward is done: d(gate) goes there. d(up) goes over up where the
    // activation's backward may work in place (SwiGLU: Kernels.swigluBackward), else into its own scratch.
    const dgate = m.act;
    const dup = s.dup ? s.dup.subarray(0, rows * F) : m.up;
    mlpActBackward(k, model, dgate, dup, dact, m.gate, m.up, rows * F);
    linearBackward(k, dlnRows, dgate, m.ln2, w.gate, rows, lc(w.gate.name), dxa, false);
    linearBackward(k, dlnRows, dup, m.ln2, w.up, rows, lc(w.up.name), dxa, true);
    const scale = normScale(model, w.postNorm.data);
    k.rmsnormBackward(dtmpRows, w.postNorm.grad, dlnRows, hRows, scale, m.rstd2, rows, C);
    k.addInPlace(dresRows, dtmpRows, rows * C); // dres = d(h)
  }
}
