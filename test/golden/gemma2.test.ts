/**
 * The gemma2 family against PyTorch (test/fixtures/golden/gemma2, scripts/golden/gemma_dump.py --family gemma2:
 * Hugging Face's Gemma 2 math: four 1 + w norms a block, query_pre_attn_scalar 24, attention logits soft-capped at
 * 2, a 4-key sliding window on even layers, final logits soft-capped at 3, GeGLU, √hidden, head_dim 16, tied head;
 * PEFT's LoRA on all seven linears): loss, logits and every LoRA gradient; the KV-cache greedy decode against full
 * forwards; 5 AdamW steps; the merge; the adapter saved back under PEFT's keys (family-golden.ts).
 */
import { familyGolden } from "./family-golden.ts";
import { gemmaSpec } from "./gemma-spec.ts";

familyGolden(gemmaSpec("gemma2", "gemma2"));
