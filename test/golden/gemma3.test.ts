/**
 * The gemma3_text family against PyTorch (test/fixtures/golden/gemma3, scripts/golden/gemma_dump.py --family gemma3:
 * Hugging Face's Gemma 3 text math: Gemma 2's block with q/k norms (1 + w over head_dim), layer 0 sliding (4 keys,
 * RoPE base rope_local_base_freq 1e4) and layer 1 global (rope_theta 1e6, linear rope_scaling 2), no soft-caps;
 * PEFT's LoRA on all seven linears): loss, logits and every LoRA gradient; the KV-cache greedy decode against full
 * forwards; 5 AdamW steps; the merge; the adapter saved back under PEFT's keys (family-golden.ts).
 */
import { familyGolden } from "./family-golden.ts";
import { gemmaSpec } from "./gemma-spec.ts";

familyGolden(gemmaSpec("gemma3", "gemma3_text"));
