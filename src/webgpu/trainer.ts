/// <reference types="@webgpu/types" />
/**
 * createGpuLoraTrainer (the API and its contract: trainer-api.ts): a LoRA training session on one GPUDevice. The
 * preflight and the support checks run first; then the base weights and the adapter are uploaded once, the
 * activations allocated for the largest micro-batch, and each step runs forward and backward of its micro-batches,
 * sums of the losses and of the gradients' squares on the GPU, reads those few floats back, and submits clipping
 * and AdamW without waiting. Mirrors train/trainer.ts's step: zero the gradients, accumulate (Σ losses)/(label
 * tokens of the step), norm, non-finite check before the update, clip to maxGradNorm/(norm + 1e-6), AdamW.
 */
import type { Batch } from "../data/batch.ts";
import { LoratuneError } from "../errors.ts";
import { adamw } from "../kernels/webgpu/adamw.ts";
import { readF32 } from "../kernels/webgpu/buffers.ts";
import { createGpu, type Gpu, record, submitRecorded } from "../kernels/webgpu/gpu.ts";
import { scaleInPlace } from "../kernels/webgpu/scale.ts";
import { sumInto } from "../kernels/webgpu/sum.ts";
import type { LlamaTop } from "../model/arch/llama-style.ts";
import { ADAMW_DEFAULTS, loraPlusLrScales } from "../train/adamw.ts";
import { allocateGpuActivations } from "./activations.ts";
import { gpuBackward } from "./backward.ts";
import { uploadBatch } from "./batch.ts";
import { bufferLimits } from "./device.ts";
import { gpuForward } from "./forward.ts";
import { type GpuLinear, uploadModel } from "./gpu-model.ts";
import { checkGpuLimits, estimateGpuMemory, loraRank } from "./memory.ts";
import { checkGpuTrainable } from "./support.ts";
import type {
  GpuAdapterParam,
  GpuGradients,
  GpuLoraTrainer,
  GpuLoraTrainerOptions,
  GpuStepResult,
} from "./trainer-api.ts";

/** One trainable tensor on the GPU: A or B of an adapted linear, with its gradient and AdamW moments. */
interface GpuParam extends GpuAdapterParam {
  n: number;
  data: GPUBuffer;
  grad: GPUBuffer;
  m: GPUBuffer;
  v: GPUBuffer;
  host: Float32Array;
  lrScale: number;
}

/** The PEFT key of a LoRA tensor, as lora/adapter.ts's peftKey writes it. */
const peftKey = (module: string, tensor: string) => `base_model.model.${module}.${tensor}`;

function paramsOf(adapted: GpuLinear[]): GpuParam[] {
  return adapted.flatMap((lin) => {
    const a = lin.lora!;
    const A = { name: peftKey(lin.name, "lora_A.weight"), shape: [a.r, lin.nIn], n: a.r * lin.nIn };
    const B = { name: peftKey(lin.name, "lora_B.weight"), shape: [lin.nOut, a.r], n: lin.nOut * a.r };
    return [
      { ...A, data: a.A, grad: a.dA, m: a.mA, v: a.vA, host: a.host.A, lrScale: 1 },
      { ...B, data: a.B, grad: a.dB, m: a.mB, v: a.vB, host: a.host.B, lrScale: 1 },
    ];
  });
}

const asList = (b: Batch | readonly Batch[]): readonly Batch[] => (Array.isArray(b) ? b : [b as Batch]);

/** Creates the session (see trainer-api.ts); refuses unsupported models and what will not fit, before allocating. */
export async function createGpuLoraTrainer(device: GPUDevice, o: GpuLoraTrainerOptions): Promise<GpuLoraTrainer> {
  const { model, maxRows, maxSeqLen } = o;
  if (!(Number.isInteger(maxRows) && maxRows >= 1 && Number.isInteger(maxSeqLen) && maxSeqLen >= 1)) {
    throw new RangeError(`createGpuLoraTrainer: maxRows and maxSeqLen must be integers ≥ 1 (${maxRows}, ${maxSeqLen})`);
  }
  checkGpuTrainable(model, maxSeqLen);
  const memory = estimateGpuMemory(model, maxRows, maxSeqLen);
  checkGpuLimits(memory, bufferLimits(device.limits));
  const c = model.config;
  const opt = o.optimizer ?? ADAMW_DEFAULTS;
  const maxGradNorm = o.maxGradNorm ?? 0;
  const gpu: Gpu = createGpu(device);
  const N = maxRows * maxSeqLen;
  const positions = Math.min(maxSeqLen, (model.top as LlamaTop).rope.maxPositions);
  device.pushErrorScope("out-of-memory");
  device.pushErrorScope("validation");
  const m = uploadModel(gpu, model, N, positions);
  const maxRank = Math.max(...model.linears.map(loraRank));
  const acts = allocateGpuActivations(gpu, c, N, maxRank);
  const params = paramsOf(m.adapted);
  const scales = loraPlusLrScales(
    params.map((p) => ({ name: p.name, shape: p.shape, data: p.host, grad: p.host })),
    o.loraplusLrRatio ?? 0,
  );
  params.forEach((p, i) => {
    p.lrScale = scales?.[i] ?? 1;
  });
  let stats = device.createBuffer({
    label: "step stats",
    size: (params.length + 64) * 4,
    usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST,
  });
  await popErrors(device, "uploading the model", true);
  let stepsDone = 0;
  let destroyed = false;

  /** A stats buffer with room for the parameters' sums of squares and `batches` loss sums. */
  const statsFor = (batches: number) => {
    const need = (params.length + batches) * 4;
    if (stats.size < need) {
      stats.destroy();
      stats = device.createBuffer({
        label: "step stats",
        size: need,
        usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST,
      });
    }
    return stats;
  };
  const live = () => {
    if (destroyed) throw new Error("webgpu trainer: used after destroy()");
  };

  /** Zeroes the gradients, then forward + backward of every micro-batch with label tokens. */
  const accumulate = (micro: readonly Batch[], labelTokens: number, out: GPUBuffer) => {
    record(gpu);
    for (const p of params) gpu.recording!.clearBuffer(p.grad);
    micro.forEach((b, i) => {
      if (b.nLabelTokens === 0) return;
      const shape = uploadBatch(gpu, acts, b, c.vocabSize, positions, maxSeqLen); // submits what was recorded
      record(gpu);
      gpuForward(gpu, c, m, acts, shape, 1 / labelTokens, out, params.length + i);
      gpuBackward(gpu, c, m, acts, shape);
    });
  };

  /** Σ over the micro-batches with label tokens of their loss sums (stats after the parameters' slots). */
  const lossSum = (s: Float32Array, micro: readonly Batch[]) =>
    micro.reduce((acc, b, i) => (b.nLabelTokens > 0 ? acc + s[params.length + i]! : acc), 0);

  const trainer: GpuLoraTrainer = {
    params: params.map((p) => ({ name: p.name, shape: p.shape })),
    memory,
    get stepsDone() {
      return stepsDone;
    },

    async step(batches, lr) {
      live();
      const micro = asList(batches);
      const labelTokens = micro.reduce((n, b) => n + b.nLabelTokens, 0);
      const s = await scoped(gpu, "a training step", () => {
        const out = statsFor(micro.length);
        accumulate(micro, labelTokens, out);
        params.forEach((p, i) => {
          sumInto(gpu, out, i, p.grad, p.n, true);
        });
        return readF32(gpu, out, params.length + micro.length);
      });
      const loss = labelTokens > 0 ? lossSum(s, micro) / labelTokens : 0;
      let sq = 0;
      for (let i = 0; i < params.length; i++) sq += s[i]!;
      const gradNorm = Math.sqrt(sq);
      if (!Number.isFinite(loss) || !Number.isFinite(gradNorm)) {
        const bad = params.find((_, i) => !Number.isFinite(s[i]!));
        throw nonFinite(stepsDone + 1, loss, bad?.name);
      }
      stepsDone += 1;
      const { beta1, beta2, eps, weightDecay } = opt;
      record(gpu);
      if (maxGradNorm > 0 && gradNorm > maxGradNorm) {
        const factor = maxGradNorm / (gradNorm + 1e-6);
        for (const p of params) scaleInPlace(gpu, p.grad, p.n, factor);
      }
      for (const p of params) {
        adamw(gpu, p.data, p.grad, p.m, p.v, p.n, lr * p.lrScale, beta1, beta2, eps, weightDecay, stepsDone);
      }
      submitRecorded(gpu);
      const tokens = micro.reduce((n, b) => n + b.B * b.T, 0);
      const result: GpuStepResult = { loss, gradNorm, labelTokens, tokens };
      return result;
    },

    async evalLoss(batches) {
      live();
      const list = asList(batches);
      const tokens = list.reduce((n, b) => n + b.nLabelTokens, 0);
      const s = await scoped(gpu, "an evaluation", () => {
        const out = statsFor(list.length);
        list.forEach((b, i) => {
          if (b.nLabelTokens === 0) return;
          const shape = uploadBatch(gpu, acts, b, c.vocabSize, positions, maxSeqLen); // submits what was recorded
          record(gpu);
          gpuForward(gpu, c, m, acts, shape, 0, out, params.length + i);
        });
        return readF32(gpu, out, params.length + list.length);
      });
      return { loss: tokens > 0 ? lossSum(s, list) / tokens : Number.NaN, tokens };
    },

    async gradients(batches) {
      live();
      const micro = asList(batches);
      const labelTokens = micro.reduce((n, b) => n + b.nLabelTokens, 0);
      return scoped(gpu, "a gradient computation", async () => {
        const out = statsFor(micro.length);
        accumulate(micro, labelTokens, out);
        const s = await readF32(gpu, out, params.length + micro.length);
        const grads = new Map<string, Float32Array>();
        for (const p of params) grads.set(p.name, await readF32(gpu, p.grad, p.n));
        const result: GpuGradients = { loss: labelTokens > 0 ? lossSum(s, micro) / labelTokens : 0, grads };
        return result;
      });
    },

    async adapterTensors() {
      live();
      const out = new Map<string, Float32Array>();
      for (const p of params) out.set(p.name, await readF32(gpu, p.data, p.n));
      return out;
    },

    async copyAdapterToModel() {
      live();
      for (const p of params) p.host.set(await readF32(gpu, p.data, p.n));
    },

    async optimizerState() {
      live();
      const m: Float32Array[] = [];
      const v: Float32Array[] = [];
      for (const p of params) {
        m.push(await readF32(gpu, p.m, p.n));
        v.push(await readF32(gpu, p.v, p.n));
      }
      return { m, v };
    },

    destroy() {
      if (destroyed) return;
      destroyed = true;
      for (const b of [...m.buffers, ...acts.buffers, stats]) b.destroy();
    },
  };
  return trainer;
}

/**
 * Runs `work` (which submits GPU work and reads its results) inside a validation error scope; a device error
 * becomes a LoratuneError naming `what`, and a thrown error (a refused batch) still pops the scope and drops the
 * work recorded for it.
 */
async function scoped<T>(gpu: Gpu, what: string, work: () => Promise<T>): Promise<T> {
  const device = gpu.device;
  device.pushErrorScope("validation");
  let result: T;
  try {
    result = await work();
  } catch (err) {
    gpu.recording = null; // a refused batch: what was recorded for it is dropped, not submitted later
    await device.popErrorScope();
    throw err;
  }
  await popErrors(device, what);
  return result;
}

/** Pops the validation and out-of-memory scopes pushed before `what`, throwing the first error as a LoratuneError. */
async function popErrors(device: GPUDevice, what: string, withOom = false): Promise<void> {
  const validation = await device.popErrorScope();
  const oom = withOom ? await device.popErrorScope() : null;
  const err = oom ?? validation;
  if (err) {
    const code = oom ? "ERR_MEMORY" : "ERR_UNSUPPORTED";
    throw new LoratuneError(code, `webgpu: ${what} failed on the device: ${err.message}`);
  }
}

function nonFinite(step: number, loss: number, badParam: string | undefined): LoratuneError {
  const what = !Number.isFinite(loss)
    ? `the loss is ${loss}`
    : `the gradient of ${badParam ?? "a parameter"} is not finite`;
  return new LoratuneError(
    "ERR_NONFINITE",
    `step ${step}: ${what}${!Number.isFinite(loss) && badParam ? ` (first non-finite gradient: ${badParam})` : ""}. ` +
      "Lower the learning rate (--lr) or enable gradient clipping (--max-grad-norm 1.0); the adapter was not updated.",
  );
}
