/// <reference types="@webgpu/types" />
/**
 * The browser side of the GPU trainer tests (bundled by trainer-browser.ts): rebuilds the Node side's model from
 * its served tensors with the library's own assembleModel, attaches LoRA with attachLora and the same seed (so
 * A and B start identical to the CPU run's), creates the GPU trainer (src/webgpu/trainer.ts) and runs the
 * requested steps or one gradient computation, returning losses, norms and tensors as plain arrays.
 */
import type { Batch } from "../../../src/data/batch.ts";
import { attachLora } from "../../../src/lora/adapter.ts";
import { defaultLoraConfig } from "../../../src/lora/config.ts";
import { assembleModel } from "../../../src/model/assemble.ts";
import { parseModelConfig } from "../../../src/model/config.ts";
import { Rng } from "../../../src/tensor/rng.ts";
import type { StoredTensor } from "../../../src/tensor/stored-tensor.ts";
import { requestTrainingDevice } from "../../../src/webgpu/device.ts";
import { createGpuLoraTrainer } from "../../../src/webgpu/trainer.ts";
import type { PageTrainer, PlainBatch, TrainerPageGlobal, TrainerRequest, TrainerResult } from "./trainer-request.ts";

let device: GPUDevice | undefined;
let why: string | undefined;

async function open(): Promise<string | undefined> {
  if (device) return undefined;
  if (why) return why;
  if (!("gpu" in navigator)) {
    why = "navigator.gpu is missing";
    return why;
  }
  const adapter = await navigator.gpu.requestAdapter();
  if (!adapter) {
    why = "requestAdapter() gave no adapter";
    return why;
  }
  device = await requestTrainingDevice(adapter);
  return undefined;
}

const batchOf = (b: PlainBatch): Batch => ({
  B: b.B,
  T: b.T,
  ids: Int32Array.from(b.ids),
  targets: Int32Array.from(b.targets),
  pos: Int32Array.from(b.pos),
  seg: b.seg ? Int32Array.from(b.seg) : null,
  nLabelTokens: b.nLabelTokens,
});

async function run(req: TrainerRequest): Promise<TrainerResult> {
  const problem = await open();
  if (problem) throw new Error(problem);
  const bytes = await (await fetch("/tensors.bin")).arrayBuffer();
  const tensors = new Map<string, StoredTensor>();
  for (const t of req.tensors) {
    const slice = bytes.slice(t.byteOffset, t.byteOffset + t.byteLength);
    const data = t.dtype === "f32" ? new Float32Array(slice) : new Uint16Array(slice);
    tensors.set(t.name, { dtype: t.dtype, shape: t.shape, data });
  }
  const config = parseModelConfig(req.config);
  const model = assembleModel(config, tensors, req.dtype, "test model", config.maxPositions, "F32", false);
  const rng = new Rng(req.seed);
  attachLora(model, defaultLoraConfig({ ...req.lora, loraDropout: 0 }), () => rng.next());
  const trainer = await createGpuLoraTrainer(device!, {
    model,
    maxRows: req.maxRows,
    maxSeqLen: req.maxSeqLen,
    optimizer: req.optimizer,
    maxGradNorm: req.maxGradNorm,
  });
  const out: TrainerResult = {
    losses: [],
    gradNorms: [],
    tensors: {},
    names: trainer.params.map((p) => p.name),
    stepSeconds: 0,
  };
  try {
    const started = performance.now();
    if (req.mode === "gradients") {
      const g = await trainer.gradients(req.steps[0]!.micro.map(batchOf));
      out.losses.push(g.loss);
      for (const [name, v] of g.grads) out.tensors[name] = Array.from(v);
    } else {
      for (const s of req.steps) {
        const r = await trainer.step(s.micro.map(batchOf), s.lr);
        out.losses.push(r.loss);
        out.gradNorms.push(r.gradNorm);
      }
      for (const [name, v] of await trainer.adapterTensors()) out.tensors[name] = Array.from(v);
    }
    out.stepSeconds = (performance.now() - started) / 1000;
  } finally {
    trainer.destroy();
  }
  return out;
}

const api: PageTrainer = { unavailable: open, run };
(globalThis as TrainerPageGlobal).webgpuTrainer = api;
