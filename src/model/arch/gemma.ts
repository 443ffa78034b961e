/**
 * Gemma (model_type gemma): the Llama block with RMSNorm scaling by 1 + w (the stored weight is w), the token
 * embedding multiplied by √hidden (in f32, the compute dtype) before the first block, a GeGLU MLP (the tanh GELU,
 * hidden_activation gelu_pytorch_tanh, on gate_proj), head_dim from config.json (independent of hidden / heads)
 * and the head tied to the embedding. GGUF: llama.cpp's gemma architecture (gemma-gguf.ts), norms stored as 1 + w.
 */
import { gemmaGguf } from "./gemma-gguf.ts";
import { llamaStyleFamily } from "./llama-style.ts";

export const gemma = {
  ...llamaStyleFamily({ name: "gemma", modelTypes: ["gemma"], gemma: true }),
  gguf: gemmaGguf("gemma"),
};
