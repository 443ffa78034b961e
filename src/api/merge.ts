/** `merge()`: fold a PEFT adapter into the base weights and write a plain Hugging Face model directory. */
import { resolve } from "node:path";
import { LoratuneError } from "../errors.ts";
import { saveModelDir } from "../io/hf-dir.ts";
import { loadAdapter } from "../io/peft.ts";
import { getKernels } from "../kernels/index.ts";
import { mergeLora } from "../lora/merge.ts";
import { loadModel, resolveModelDir } from "../model/load.ts";

export interface MergeOptions {
  model: string;
  adapter: string;
  out: string;
  overwrite?: boolean;
}

export function merge(o: MergeOptions): { modules: number; dtype: string; out: string } {
  const dir = resolveModelDir(o.model);
  if (resolve(dir) === resolve(o.out)) {
    throw new LoratuneError("ERR_USAGE", "--out must differ from --model (the base model is never modified)");
  }
  const model = loadModel(dir, { dtype: "f32" });
  loadAdapter(o.adapter, model, false);
  const modules = mergeLora(getKernels(), model);
  saveModelDir(o.out, model, dir, model.sourceDtype, o.overwrite ?? false);
  return { modules, dtype: model.sourceDtype, out: o.out };
}
