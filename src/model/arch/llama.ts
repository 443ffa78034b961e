/** Llama (and the many models that reuse its config.json: TinyLlama, SmolLM, …). q/k/v biases with `attention_bias`. */
import { llamaStyleFamily } from "./llama-style.ts";

export const llama = llamaStyleFamily({ name: "llama", modelTypes: ["llama"], ggufArch: "llama" });
