/// <reference types="@webgpu/types" />
/**
 * Uploading a micro-batch into the trainer's batch buffers, checked on the CPU first (a shader cannot throw):
 * its size against the activation buffers, token ids against the vocabulary, positions against the RoPE tables,
 * targets against the vocabulary or −100, with the CPU kernels' messages. queue.writeBuffer is ordered after the
 * work already submitted, not after work still being recorded, so recorded work is submitted first: the previous
 * micro-batch's dispatches still read the previous batch.
 */

import type { Batch } from "../data/batch.ts";
import { LoratuneError } from "../errors.ts";
import { checkIds } from "../kernels/ref/embedding.ts";
import { checkPositions, checkTargets } from "../kernels/webgpu/checks.ts";
import { type Gpu, submitRecorded } from "../kernels/webgpu/gpu.ts";
import type { GpuActivations } from "./activations.ts";
import type { GpuBatchShape } from "./forward.ts";

/** Checks `b` and writes it to the batch buffers; returns its shape for the forward and backward. */
export function uploadBatch(
  gpu: Gpu,
  acts: GpuActivations,
  b: Batch,
  vocab: number,
  positions: number,
  maxSeqLen: number,
): GpuBatchShape {
  const N = b.B * b.T;
  if (N > acts.N || b.T > maxSeqLen) {
    throw new LoratuneError(
      "ERR_DATA",
      `webgpu trainer: a batch of ${b.B}×${b.T} tokens exceeds the ${acts.N / maxSeqLen}×${maxSeqLen} the trainer was created for (maxRows × maxSeqLen)`,
    );
  }
  for (const [name, a] of [
    ["ids", b.ids],
    ["targets", b.targets],
    ["pos", b.pos],
    ...(b.seg ? [["seg", b.seg] as const] : []),
  ] as const) {
    if (a.length < N)
      throw new LoratuneError("ERR_DATA", `webgpu trainer: batch.${name} has ${a.length} < B·T = ${N} values`);
  }
  checkIds(b.ids, N, vocab, "embedding");
  checkPositions(b.pos, N, positions);
  checkTargets(b.targets, N, vocab);
  submitRecorded(gpu);
  const q = gpu.device.queue;
  // A copy of the first N values (writeBuffer takes views of a plain ArrayBuffer, not a shared one).
  const write = (buf: GPUBuffer, a: Int32Array) => q.writeBuffer(buf, 0, new Int32Array(a.subarray(0, N)));
  write(acts.ids, b.ids);
  write(acts.targets, b.targets);
  write(acts.pos, b.pos);
  if (b.seg) write(acts.seg, b.seg);
  return { B: b.B, T: b.T, packed: b.seg !== null };
}
