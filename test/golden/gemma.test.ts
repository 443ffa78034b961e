/**
 * The gemma family against PyTorch (test/fixtures/golden/gemma, scripts/golden/gemma_dump.py: Hugging Face's Gemma
 * math: 1 + w RMSNorm, √hidden embedding scale, GeGLU, head_dim 16 with hidden 32 and 4 heads / 2 kv heads, tied
 * head; PEFT's LoRA on all seven linears): loss, logits and every LoRA gradient; the KV-cache greedy decode against
 * full forwards; 5 AdamW steps; the merge; the adapter saved back under PEFT's keys (family-golden.ts).
 */
import { familyGolden } from "./family-golden.ts";
import { gemmaSpec } from "./gemma-spec.ts";

familyGolden(gemmaSpec("gemma", "gemma"));
