/**
 * The activation arena for one (B, T) shape: every buffer forward saves for backward and every scratch buffer
 * backward needs, allocated once and reused every step (no allocation in the training loop).
 * N = B·T rows; C hidden; Hq = heads·hd; Hkv = kvHeads·hd; F = intermediate size; V vocab.
 *
 * With activation checkpointing each layer keeps only its input (`resid`) and its LoRA state; the other
 * per-layer buffers are one set shared by every layer, which backward refills by running the layer's forward
 * again just before its backward (one extra forward of the layers for L − 1 layers' worth of memory).
 */
import type { LoraCache } from "../nn/linear.ts";
import type { LlamaModel } from "./llama.ts";

export interface LayerActivations {
  resid: Float32Array; // [N, C] the layer's input (residual stream)
  ln1: Float32Array; // [N, C]
  rstd1: Float32Array; // [N]
  qPre: Float32Array | null; // [N, Hq] q before q_norm (qwen3)
  kPre: Float32Array | null; // [N, Hkv]
  qRstd: Float32Array | null; // [N·heads]
  kRstd: Float32Array | null; // [N·kvHeads]
  q: Float32Array; // [N, Hq] after RoPE
  k: Float32Array; // [N, Hkv] after RoPE
  v: Float32Array; // [N, Hkv]
  att: Float32Array; // [N, Hq]
  lse: Float32Array; // [B, heads, T]
  h: Float32Array; // [N, C] residual after attention
  ln2: Float32Array; // [N, C]
  rstd2: Float32Array; // [N]
  gate: Float32Array; // [N, F]
  up: Float32Array; // [N, F]
  act: Float32Array; // [N, F]
  /** LoRA state per adapted linear, keyed by the linear's name (never shared: dropout masks are replayed). */
  lora: Map<string, LoraCache>;
}

/** The per-layer buffers other than resid and lora: one set per layer, or one shared set with checkpointing. */
type LayerWork = Omit<LayerActivations, "resid" | "lora">;

/** Sized for batches of at most B·T tokens (any smaller B' × T' batch runs in the same buffers). */
export interface Activations {
  B: number;
  T: number;
  /** Capacity in rows (B·T). */
  N: number;
  /** Activation checkpointing: layers share their work buffers, and backward recomputes each layer's forward. */
  checkpoint: boolean;
  layers: LayerActivations[];
  final: Float32Array; // [N, C] residual after the last layer
  lnf: Float32Array; // [N, C]
  rstdf: Float32Array; // [N]
  /** Logits of one loss chunk [rowsPerChunk, V]. */
  logits: Float32Array;
  rowsPerChunk: number;
  losses: Float32Array; // [N]
  // backward scratch
  dres: Float32Array; // [N, C]
  dtmp: Float32Array; // [N, C]
  dln: Float32Array; // [N, C]
  dq: Float32Array; // [N, Hq]
  dk: Float32Array; // [N, Hkv]
  dv: Float32Array; // [N, Hkv]
  dqPre: Float32Array | null; // [N, Hq]
  dkPre: Float32Array | null; // [N, Hkv]
  datt: Float32Array; // [N, Hq]
  dact: Float32Array; // [N, F]
  dgate: Float32Array; // [N, F]
  dup: Float32Array; // [N, F]
  dxa: Float32Array; // [N, max r]
  dlnf: Float32Array; // [N, C]
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

export interface ArenaOptions {
  /** Gradient buffers too (training); false for evaluation. Default true. */
  withGrad?: boolean;
  /** Activation checkpointing (training with --grad-checkpoint). Default false. */
  checkpoint?: boolean;
}

export function allocateActivations(model: LlamaModel, B: number, T: number, o: ArenaOptions = {}): Activations {
  const withGrad = o.withGrad ?? true;
  const checkpoint = o.checkpoint ?? false;
  const c = model.config;
  const N = B * T;
  const C = c.hiddenSize;
  const hq = c.numHeads * c.headDim;
  const hkv = c.numKvHeads * c.headDim;
  const F = c.intermediateSize;
  let bytes = 0;
  const f32 = (n: number): Float32Array => {
    bytes += n * 4;
    return new Float32Array(n);
  };
  const grad = (n: number): Float32Array => (withGrad ? f32(n) : new Float32Array(0));
  let maxRank = 1;
  const work = (): LayerWork => ({
    ln1: f32(N * C),
    rstd1: f32(N),
    qPre: c.qkNorm ? f32(N * hq) : null,
    kPre: c.qkNorm ? f32(N * hkv) : null,
    qRstd: c.qkNorm ? f32(N * c.numHeads) : null,
    kRstd: c.qkNorm ? f32(N * c.numKvHeads) : null,
    q: f32(N * hq),
    k: f32(N * hkv),
    v: f32(N * hkv),
    att: f32(N * hq),
    lse: f32(N * c.numHeads),
    h: f32(N * C),
    ln2: f32(N * C),
    rstd2: f32(N),
    gate: f32(N * F),
    up: f32(N * F),
    act: f32(N * F),
  });
  const shared = checkpoint ? work() : null;
  const layers: LayerActivations[] = model.layers.map((layer) => {
    const lora = new Map<string, LoraCache>();
    for (const lin of [layer.q, layer.k, layer.v, layer.o, layer.gate, layer.up, layer.down]) {
      if (!lin.lora) continue;
      maxRank = Math.max(maxRank, lin.lora.r);
      const withDrop = lin.lora.dropout > 0 && withGrad;
      lora.set(lin.name, {
        xa: f32(N * lin.lora.r),
        dropScale: withDrop ? f32(N * lin.inFeatures) : null,
        xDrop: withDrop ? f32(N * lin.inFeatures) : null,
      });
    }
    return { resid: f32(N * C), ...(shared ?? work()), lora };
  });
  const lnf = f32(N * C);
  const dlnf = grad(N * C);
  const rowsPerChunk = lossChunkRows(N, c.vocabSize);
  const logits = f32(rowsPerChunk * c.vocabSize);
  return {
    B,
    T,
    N,
    checkpoint,
    layers,
    final: f32(N * C),
    lnf,
    rstdf: f32(N),
    logits,
    rowsPerChunk,
    losses: f32(N),
    dres: grad(N * C),
    dtmp: grad(N * C),
    dln: grad(N * C),
    dq: grad(N * hq),
    dk: grad(N * hkv),
    dv: grad(N * hkv),
    dqPre: c.qkNorm ? grad(N * hq) : null,
    dkPre: c.qkNorm ? grad(N * hkv) : null,
    datt: grad(N * hq),
    dact: grad(N * F),
    dgate: grad(N * F),
    dup: grad(N * F),
    dxa: grad(N * maxRank),
    dlnf,
    bytes,
  };
}

/** Bytes allocateActivations(model, B, T, o) will take, without allocating. */
export function activationBytes(model: LlamaModel, B: number, T: number, o: ArenaOptions = {}): number {
  const withGrad = o.withGrad ?? true;
  const c = model.config;
  const N = B * T;
  const C = c.hiddenSize;
  const hq = c.numHeads * c.headDim;
  const hkv = c.numKvHeads * c.headDim;
  const F = c.intermediateSize;
  let work = 3 * N * C + 2 * N + 2 * N * hq + 2 * N * hkv + N * c.numHeads + 3 * N * F; // all but resid
  if (c.qkNorm) work += N * hq + N * hkv + N * (c.numHeads + c.numKvHeads);
  const layerBuffers = o.checkpoint ? c.numLayers * N * C + work : c.numLayers * (N * C + work);
  let lora = 0;
  let maxRank = 1;
  for (const layer of model.layers) {
    for (const lin of [layer.q, layer.k, layer.v, layer.o, layer.gate, layer.up, layer.down]) {
      if (!lin.lora) continue;
      maxRank = Math.max(maxRank, lin.lora.r);
      lora += N * lin.lora.r + (lin.lora.dropout > 0 && withGrad ? 2 * N * lin.inFeatures : 0);
    }
  }
  const fixed = 2 * N * C + N + N + lossChunkRows(N, c.vocabSize) * c.vocabSize;
  const grads = withGrad
    ? 4 * N * C + 2 * N * hq + 2 * N * hkv + 3 * N * F + N * maxRank + (c.qkNorm ? N * (hq + hkv) : 0)
    : 0;
  return 4 * (layerBuffers + lora + fixed + grads);
}
