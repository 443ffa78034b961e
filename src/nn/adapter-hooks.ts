/**
 * What a Linear calls for the adapter attached to it. nn/ knows only this shape; the adapter methods (LoRA and
 * any other, one file each under lora/methods/) implement it in lora/, which sits above nn/ and model/.
 *
 * The Linear computes its base y = x·Wᵀ (+ bias) first; the adapter then adds its contribution (forward) and, in
 * backward, after the base dx (and the base weight's gradient in full fine-tuning), accumulates its own parameter
 * gradients and adds its part of dx. What forward keeps for backward lives in the activation arena: the adapter
 * says how many f32 values per row (token) each of its buffers needs (`cacheSizes`), the arena allocates them
 * once per adapted linear and layer (never shared between layers, so activation checkpointing can rerun a
 * layer's forward with the dropout masks of its first run: dropout "replay"), and hands them back to the hooks.
 */
import type { Kernels } from "../kernels/types.ts";
import type { Linear } from "./linear.ts";

/** Uniform [0, 1) source for dropout masks. */
export type Uniform = () => number;

/**
 * Where adapter dropout masks come from: fresh ones drawn from a uniform source (training), the masks already in
 * the cache ("replay": activation checkpointing runs a layer's forward again with the masks of its first run),
 * or none (evaluation: no dropout).
 */
export type DropoutSource = Uniform | "replay" | null;

/**
 * One adapted linear's buffers, by the names its adapter's cacheSizes gives: each holds at least
 * rows × cacheSizes()[name] f32 values (slices of the activation arena). Inference hands one shared set, sized for
 * the largest adapter, to every linear in turn (no dropout, nothing kept between linears).
 */
export type AdapterCache = Readonly<Record<string, Float32Array>>;

/** The hot-path side of an adapter attached to one Linear (an instance holds the adapter's own tensors). */
export interface AdapterHooks {
  /** The method's registered name ("lora"), for messages. */
  readonly method: string;
  /**
   * f32 values per row (token) of each buffer forward keeps for backward. `training`: with gradients (dropout
   * masks are kept only then); without, what an evaluation or inference forward needs as scratch.
   */
  cacheSizes(training: boolean): Record<string, number>;
  /** f32 values per row of backward scratch; one buffer, sized for the largest adapter, is shared by all. */
  readonly scratchPerRow: number;
  /**
   * y[M, out] += the adapter's contribution for x[M, in]; y holds the base output x·Wᵀ (+ bias) on entry. Writes
   * what backward needs into `cache`. `dropout` as DropoutSource (a method without dropout ignores it).
   */
  forward(
    k: Kernels,
    y: Float32Array,
    x: Float32Array,
    lin: Linear,
    M: number,
    cache: AdapterCache,
    dropout: DropoutSource,
  ): void;
  /**
   * Optional, called in backward before the base's dx = dy·W when dx is needed: the output gradient that product
   * should use instead of dy, written into `scratch` (which backward then receives again), or null for dy itself.
   * DoRA without dropout returns g ⊙ dy, folding its magnitude term into the base's product.
   */
  baseOutputGrad?(dy: Float32Array, M: number, cache: AdapterCache, scratch: Float32Array): Float32Array | null;
  /**
   * Backward of forward, called after the base's: accumulates (+=) the adapter's parameter gradients (when it
   * has them) and adds its part of the input gradient to dx[M, in] (dx null: the input needs no gradient).
   * `scratch` holds at least M × scratchPerRow values. `cache` is what forward wrote (the hook may reuse it as
   * scratch: it is written again before the next backward).
   */
  backward(
    k: Kernels,
    dx: Float32Array | null,
    dy: Float32Array,
    x: Float32Array,
    lin: Linear,
    M: number,
    cache: AdapterCache,
    scratch: Float32Array,
  ): void;
}
