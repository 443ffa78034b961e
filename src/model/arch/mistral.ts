/** Mistral: the Llama block under its own model_type, with sliding-window attention where config.json sets sliding_window. */
import { llamaStyleFamily } from "./llama-style.ts";

export const mistral = llamaStyleFamily({
  name: "mistral",
  modelTypes: ["mistral"],
  ggufArch: "llama",
  slidingWindow: "sliding_window",
});
