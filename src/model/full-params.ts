/**
 * Full-parameter training: gives every weight of the model a gradient buffer and lists them as trainable
 * parameters under their Hugging Face names. Needs f32 weights.
 */
import { LoratuneError } from "../errors.ts";
import type { TrainableParam } from "../tensor/trainable.ts";
import { type LlamaModel, modelLinears } from "./llama.ts";

export function enableFullTraining(model: LlamaModel): TrainableParam[] {
  if (model.dtype !== "f32") {
    throw new LoratuneError("ERR_USAGE", "full fine-tuning needs f32 weights (use --dtype f32)");
  }
  const params: TrainableParam[] = [];
  const c = model.config;
  model.dEmbed = new Float32Array(model.embed.data.length);
  params.push({
    name: "model.embed_tokens.weight",
    shape: [c.vocabSize, c.hiddenSize],
    data: model.embed.data as Float32Array,
    grad: model.dEmbed,
  });
  for (const layer of model.layers) {
    for (const vec of [layer.inputNorm, layer.qNorm, layer.kNorm, layer.postNorm]) {
      if (!vec) continue;
      vec.grad = new Float32Array(vec.data.length);
      params.push({ name: vec.name, shape: [vec.data.length], data: vec.data, grad: vec.grad });
    }
  }
  for (const lin of modelLinears(model)) {
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
  model.norm.grad = new Float32Array(model.norm.data.length);
  params.push({ name: "model.norm.weight", shape: [c.hiddenSize], data: model.norm.data, grad: model.norm.grad });
  if (model.lmHead !== model.embed) {
    model.dLmHead = new Float32Array(model.lmHead.data.length);
    params.push({
      name: "lm_head.weight",
      shape: [c.vocabSize, c.hiddenSize],
      data: model.lmHead.data as Float32Array,
      grad: model.dLmHead,
    });
  }
  return params;
}
