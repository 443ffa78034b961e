/** Qwen3: the Llama block with RMSNorm over head_dim on q and k before RoPE (q_norm, k_norm). */
import { llamaStyleFamily } from "./llama-style.ts";

export const qwen3 = llamaStyleFamily({ name: "qwen3", modelTypes: ["qwen3"], ggufArch: "qwen3", qkNorm: true });
