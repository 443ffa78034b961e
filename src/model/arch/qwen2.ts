/** Qwen2 / Qwen2.5: the Llama block with biases on the q, k and v projections; sliding windows with use_sliding_window. */
import { llamaStyleFamily } from "./llama-style.ts";

export const qwen2 = llamaStyleFamily({
  name: "qwen2",
  modelTypes: ["qwen2"],
  ggufArch: "qwen2",
  alwaysQkvBias: true,
  slidingWindow: "use_sliding_window",
});
