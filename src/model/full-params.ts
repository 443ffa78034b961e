/**
 * Full-parameter training: gives every weight of the model a gradient buffer and lists them as trainable
 * parameters under their Hugging Face names. Needs f32 weights. Order (it fixes the gradient-norm sum and the
 * checkpoint layout): the embedding, every block's norm weights, every linear (weight, then bias), the weights
 * outside the blocks, the untied head.
 */
import { LoratuneError } from "../errors.ts";
import type { TrainableParam } from "../tensor/trainable.ts";
import { embeddingSpec, type F32Param, type Model } from "./model.ts";

export function enableFullTraining(model: Model): TrainableParam[] {
  if (model.dtype !== "f32") {
    throw new LoratuneError("ERR_USAGE", "full fine-tuning needs f32 weights (use --dtype f32)");
  }
  if (model.linears.some((l) => l.weight.dtype !== "f32")) {
    throw new LoratuneError("ERR_USAGE", "full fine-tuning needs f32 weights, not a quantized base (drop --quantize)");
  }
  const f = model.family;
  const params: TrainableParam[] = [];
  const dense = (p: F32Param) => {
    p.grad = new Float32Array(p.data.length);
    params.push({ name: p.name, shape: p.shape, data: p.data, grad: p.grad });
  };
  model.dEmbed = new Float32Array(model.embed.data.length);
  params.push({
    name: embeddingSpec(model.specs).name,
    shape: model.embed.shape,
    data: model.embed.data as Float32Array,
    grad: model.dEmbed,
  });
  for (const layer of model.layers) for (const p of f.blockParams(layer)) dense(p);
  for (const lin of model.linears) {
    lin.dWeight = new Float32Array(lin.weight.data.length);
    params.push({
      name: `${lin.name}.weight`,
      shape: [lin.outFeatures, lin.inFeatures],
      data: lin.weight.data as Float32Array,
      grad: lin.dWeight,
    });
    if (lin.bias) {
      lin.dBias = new Float32Array(lin.bias.length);
      params.push({ name: `${lin.name}.bias`, shape: [lin.outFeatures], data: lin.bias, grad: lin.dBias });
    }
  }
  for (const p of f.topParams(model.top)) dense(p);
  if (model.lmHead !== model.embed) {
    model.dLmHead = new Float32Array(model.lmHead.data.length);
    params.push({
      name: model.specs.find((s) => s.role === "head")?.name ?? model.family.headName,
      shape: model.lmHead.shape,
      data: model.lmHead.data as Float32Array,
      grad: model.dLmHead,
    });
  }
  return params;
}
