/**
 * FLOP counts per token of the bench workloads: the same model as ../shared/reference/bench_lora.py, so
 * achieved GFLOP/s are comparable between loratune and PyTorch.
 *
 * Definitions (L layers, C hidden, F intermediate, V vocab, d = heads·head_dim, T sequence length):
 *   N      = parameters of every matmul weight, output head included (a tied head counts: it is a matmul)
 *          = L·(C·hd·(2·heads + 2·kvHeads) + 3·C·F) + V·C
 *   N_lora = Σ over adapted linears of r·(in + out)
 *   attention (dense-equivalent, as eager PyTorch computes it over the full T×T; a causal kernel does about
 *   half of it): forward 4·T·d per layer per token (q·kᵀ and p·v), backward twice that.
 *
 *   train   = 2N (forward) + 2N (backward through the frozen base: input gradients only, no weight gradients)
 *           + 4·L·T·d + 8·L·T·d (attention forward + backward)
 *           + 6·N_lora (LoRA forward 2·N_lora; backward dB, d(xA), dA, dx: 4·N_lora)
 *           = 4N + 12·L·T·d + 6·N_lora
 *   prefill = 2N + 4·L·T·d + 2·N_lora          (forward over B×T tokens, logits at every position)
 *   prompt  = 2(N − V·C) + 2·V·C/T + 4·L·T·d   (llama.cpp's prompt evaluation: logits of the last token only)
 *   decode  = 2N + 4·L·ctx·d + 2·N_lora        (one token against a KV cache of ctx tokens)
 * Element-wise work (norms, RoPE, softmax, SwiGLU, cross-entropy, AdamW) is not counted.
 */
import type { ModelConfig } from "../model/config.ts";
import { modelParamSpecs } from "../model/specs.ts";

/** LoRA target sets the bench trains: the attention linears (q,k,v,o: the default) or every linear layer. */
export type BenchTargets = "qkvo" | "all-linear";

/** The attention linears of the bench's Llama-family shapes, as LoRA target_modules. */
export const QKVO_TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj"];

/** [in, out] of each linear of one layer (from the family's specs), its module suffix and sub-layer. */
export function layerLinearShapes(c: ModelConfig): [name: string, inF: number, outF: number, group?: string][] {
  return modelParamSpecs(c)
    .filter((s) => s.role === "linear" && s.layer === 0)
    .map((s) => [s.name.slice(0, -".weight".length).split(".").at(-1)!, s.shape[1]!, s.shape[0]!, s.group]);
}

/** N: parameters of every matmul weight, the output head included. */
export function matmulParams(c: ModelConfig): number {
  const perLayer = layerLinearShapes(c).reduce((n, [, i, o]) => n + i * o, 0);
  return c.numLayers * perLayer + c.vocabSize * c.hiddenSize;
}

/** N_lora: LoRA parameters for rank r on the given targets (every layer). */
export function loraParamCount(c: ModelConfig, targets: BenchTargets, r: number): number {
  const perLayer = layerLinearShapes(c)
    .filter(([, , , group]) => targets === "all-linear" || group === "attention")
    .reduce((n, [, i, o]) => n + r * (i + o), 0);
  return c.numLayers * perLayer;
}

function attentionWidth(c: ModelConfig): number {
  return c.numHeads * c.headDim;
}

/** FLOPs per trained token: 4N + 12·L·T·d + 6·N_lora. */
export function trainFlopsPerToken(c: ModelConfig, T: number, nLora: number): number {
  return 4 * matmulParams(c) + 12 * c.numLayers * T * attentionWidth(c) + 6 * nLora;
}

/** FLOPs per prefilled token: 2N + 4·L·T·d + 2·N_lora. */
export function prefillFlopsPerToken(c: ModelConfig, T: number, nLora = 0): number {
  return 2 * matmulParams(c) + 4 * c.numLayers * T * attentionWidth(c) + 2 * nLora;
}

/** FLOPs per token of a T-token prompt evaluated as llama.cpp does (the head on the last token only). */
export function promptFlopsPerToken(c: ModelConfig, T: number): number {
  const head = c.vocabSize * c.hiddenSize;
  return 2 * (matmulParams(c) - head) + (2 * head) / T + 4 * c.numLayers * T * attentionWidth(c);
}

/** FLOPs per decoded token at a mean context of ctx tokens: 2N + 4·L·ctx·d + 2·N_lora. */
export function decodeFlopsPerToken(c: ModelConfig, ctx: number, nLora = 0): number {
  return 2 * matmulParams(c) + 4 * c.numLayers * ctx * attentionWidth(c) + 2 * nLora;
}
