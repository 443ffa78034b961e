"""gemma_dump.py - a tiny Gemma with a PEFT LoRA adapter against which loratune's gemma family is tested.

usage: /usr/bin/python3 gemma_dump.py OUT_DIR [--seed 0] [--family gemma|gemma2|gemma3]
Written for loratune from the math of Hugging Face's Gemma (modeling_gemma.py: GemmaForCausalLM, GemmaRMSNorm
scaling by 1 + w computed in float32, the embedding multiplied by sqrt(hidden_size) as a tensor of the hidden
states' dtype, rotate-half RoPE with inv_freq = 1 / theta^(2i / head_dim), grouped-query attention scaled by
head_dim^-0.5 where head_dim is its own config field, GemmaMLP down(gelu_pytorch_tanh(gate(x)) * up(x)), the head
tied to embed_tokens) and PEFT's LoRA on nn.Linear (B(A(x)) * alpha/r added; merge adds B @ A * alpha/r).
With --family gemma2, Hugging Face's Gemma 2 (modeling_gemma2.py) on top: scores scaled by
query_pre_attn_scalar^-0.5 and soft-capped (tanh(s / c) * c, attn_logit_softcapping) before the mask; even layers
sliding (keys k with q - k < sliding_window: the causal mask plus tril(diagonal=-sliding_window) masked), odd layers
global; post_attention_layernorm on the attention output and pre/post_feedforward_layernorm around the MLP; the
logits soft-capped at final_logit_softcapping.
With --family gemma3, Hugging Face's Gemma 3 text model (modeling_gemma3.py, Gemma3ForCausalLM) instead: Gemma 2's
block with q_norm / k_norm (the same 1 + w RMSNorm over head_dim, after the projections, before RoPE), layer i
sliding when (i + 1) % sliding_window_pattern != 0, sliding layers' RoPE base rope_local_base_freq, global layers'
rope_theta with linear rope_scaling (inv_freq / factor), no soft-caps (null in the config).
No transformers or peft needed: plain torch (float32, 1 thread, seeded).

Writes under OUT_DIR:
  model/            config.json (model_type gemma) and model.safetensors (GemmaForCausalLM's names, no lm_head:
                    tied), linears and embedding N(0, 0.2), norm weights 0.1 N (the stored w of 1 + w)
  adapter/          PEFT's files: adapter_config.json (all seven linears; r 4, lora_alpha 8) and
                    adapter_model.safetensors, A kaiming-uniform(a=sqrt(5)) as PEFT, B ~ N(0, 0.02)
  batch.json        B=2, T=16 ids < vocab; labels with positions 0..3 of row 1 = -100
  data.jsonl        10 rows of 16 ids (5 training steps of 2 rows)
  trained/          the adapter after 5 AdamW steps (lr 1e-3, torch defaults, weight decay 0) on data.jsonl
  dump.json         loss, logits (first 8 at some positions), every LoRA gradient (shape, l2, first8, last8),
                    greedy decode (prompt, 8 tokens, each step's logits first8 from a full forward), the 5 training
                    losses, and the merged model (q_proj of layer 0: l2, first8; logits first8)
"""
import argparse
import math

import torch
from golden_common import PREFIX, adapter_config, dump_family

CONFIG = {
    "model_type": "gemma",
    "architectures": ["GemmaForCausalLM"],
    "vocab_size": 96,
    "hidden_size": 32,
    "intermediate_size": 48,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "head_dim": 16,
    "hidden_act": "gelu",
    "hidden_activation": "gelu_pytorch_tanh",
    "max_position_embeddings": 64,
    "rms_norm_eps": 1e-6,
    "rope_theta": 10000.0,
    "attention_bias": False,
    "bos_token_id": 2,
    "eos_token_id": 1,
    "tie_word_embeddings": True,
}
# Gemma 2's keys on top of CONFIG's (model_type gemma2): soft-caps small enough to bend a tiny model's values,
# a window of 4 keys (T is 16).
GEMMA2 = {
    "model_type": "gemma2",
    "architectures": ["Gemma2ForCausalLM"],
    "query_pre_attn_scalar": 24,
    "attn_logit_softcapping": 2.0,
    "final_logit_softcapping": 3.0,
    "sliding_window": 4,
}
# Gemma 3's (model_type gemma3_text): pattern 2 makes layer 0 sliding and layer 1 global.
GEMMA3 = {
    "model_type": "gemma3_text",
    "architectures": ["Gemma3ForCausalLM"],
    "query_pre_attn_scalar": 24,
    "attn_logit_softcapping": None,
    "final_logit_softcapping": None,
    "sliding_window": 4,
    "sliding_window_pattern": 2,
    "rope_theta": 1000000.0,
    "rope_local_base_freq": 10000.0,
    "rope_scaling": {"rope_type": "linear", "factor": 2.0},
}
TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
R, ALPHA = 4, 8


def norm_names():
    extra = ("pre_feedforward_layernorm", "post_feedforward_layernorm") if CONFIG["model_type"] != "gemma" else ()
    return ("input_layernorm", "post_attention_layernorm") + extra


def linear_shapes():
    """module -> (out, in), nn.Linear's [out, in]."""
    c = CONFIG
    C, F, hd = c["hidden_size"], c["intermediate_size"], c["head_dim"]
    hq, hkv = c["num_attention_heads"] * hd, c["num_key_value_heads"] * hd
    return {
        "self_attn.q_proj": (hq, C),
        "self_attn.k_proj": (hkv, C),
        "self_attn.v_proj": (hkv, C),
        "self_attn.o_proj": (C, hq),
        "mlp.gate_proj": (F, C),
        "mlp.up_proj": (F, C),
        "mlp.down_proj": (C, F),
    }


def init_weights(g):
    c = CONFIG
    C, V = c["hidden_size"], c["vocab_size"]
    w = {"model.embed_tokens.weight": 0.2 * torch.randn(V, C, generator=g)}
    for i in range(c["num_hidden_layers"]):
        p = f"model.layers.{i}."
        for norm in norm_names():
            w[p + norm + ".weight"] = 0.1 * torch.randn(C, generator=g)
        for name, (o, n) in linear_shapes().items():
            w[p + name + ".weight"] = 0.2 * torch.randn(o, n, generator=g)
        if c["model_type"] == "gemma3_text":
            for norm in ("self_attn.q_norm", "self_attn.k_norm"):
                w[p + norm + ".weight"] = 0.1 * torch.randn(c["head_dim"], generator=g)
    w["model.norm.weight"] = 0.1 * torch.randn(C, generator=g)
    return w


def init_lora(g):
    """PEFT's init of lora_A (kaiming_uniform a=sqrt(5): bound 1/sqrt(in)); B ~ N(0, 0.02) so every gradient moves."""
    lora = {}
    for i in range(CONFIG["num_hidden_layers"]):
        for name, (nout, nin) in linear_shapes().items():
            m = f"{PREFIX}model.layers.{i}.{name}"
            bound = 1 / math.sqrt(nin)
            lora[m + ".lora_A.weight"] = (torch.rand(R, nin, generator=g) * 2 - 1) * bound
            lora[m + ".lora_B.weight"] = 0.02 * torch.randn(nout, R, generator=g)
    return {k: v.clone().requires_grad_(True) for k, v in lora.items()}


def rms_norm(x, w):
    """GemmaRMSNorm: x / sqrt(mean(x^2) + eps) * (1 + w), in float32."""
    x = x.float()
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + CONFIG["rms_norm_eps"]) * (1.0 + w.float())


def linear(x, w, lora, module):
    y = x @ w[module + ".weight"].t()
    key = PREFIX + module
    if lora is not None and key + ".lora_A.weight" in lora:
        y = y + (x @ lora[key + ".lora_A.weight"].t()) @ lora[key + ".lora_B.weight"].t() * (ALPHA / R)
    return y


def rope(x, T, theta, factor=1.0):
    """Rotate-half RoPE over [B, heads, T, hd] at positions 0..T-1 (linear scaling: inv_freq / factor)."""
    hd = x.shape[-1]
    inv_freq = 1.0 / (theta ** (torch.arange(0, hd, 2, dtype=torch.int64).float() / hd)) / factor
    freqs = torch.arange(T).float()[:, None] * inv_freq[None]
    emb = torch.cat((freqs, freqs), dim=-1)
    cos, sin = emb.cos(), emb.sin()
    x1, x2 = x[..., : hd // 2], x[..., hd // 2 :]
    return x * cos + torch.cat((-x2, x1), dim=-1) * sin


def forward(w, lora, ids):
    c = CONFIG
    B, T = ids.shape
    H, KV, hd = c["num_attention_heads"], c["num_key_value_heads"], c["head_dim"]
    h = w["model.embed_tokens.weight"][ids]
    h = h * torch.tensor(c["hidden_size"] ** 0.5, dtype=h.dtype)
    mask = torch.tril(torch.ones(T, T, dtype=torch.bool))
    for i in range(c["num_hidden_layers"]):
        p = f"model.layers.{i}."
        a = rms_norm(h, w[p + "input_layernorm.weight"])
        q = linear(a, w, lora, p + "self_attn.q_proj").view(B, T, H, hd).transpose(1, 2)
        k = linear(a, w, lora, p + "self_attn.k_proj").view(B, T, KV, hd).transpose(1, 2)
        v = linear(a, w, lora, p + "self_attn.v_proj").view(B, T, KV, hd).transpose(1, 2)
        g2 = c["model_type"] != "gemma"
        g3 = c["model_type"] == "gemma3_text"
        sliding = (i + 1) % c["sliding_window_pattern"] != 0 if g3 else g2 and i % 2 == 0
        if g3:
            q, k = rms_norm(q, w[p + "self_attn.q_norm.weight"]), rms_norm(k, w[p + "self_attn.k_norm.weight"])
        if g3 and sliding:
            theta, factor = c["rope_local_base_freq"], 1.0
        else:
            theta, factor = c["rope_theta"], (c["rope_scaling"]["factor"] if g3 else 1.0)
        q, k = rope(q, T, theta, factor), rope(k, T, theta, factor)
        k = k.repeat_interleave(H // KV, dim=1)  # repeat_kv: query head j reads kv head j // (H / KV)
        v = v.repeat_interleave(H // KV, dim=1)
        s = (q @ k.transpose(-1, -2)) * (c["query_pre_attn_scalar"] if g2 else hd) ** -0.5
        if g2 and c.get("attn_logit_softcapping"):
            s = torch.tanh(s / c["attn_logit_softcapping"]) * c["attn_logit_softcapping"]
        visible = mask
        if sliding:  # Gemma 2: is_sliding = not bool(layer_idx % 2); Gemma 3: bool((layer_idx + 1) % pattern)
            visible = mask & ~torch.tril(torch.ones(T, T, dtype=torch.bool), diagonal=-c["sliding_window"])
        s = s.masked_fill(~visible, torch.finfo(s.dtype).min)
        att = (torch.softmax(s, dim=-1) @ v).transpose(1, 2).reshape(B, T, H * hd)
        ao = linear(att, w, lora, p + "self_attn.o_proj")
        if g2:
            h = h + rms_norm(ao, w[p + "post_attention_layernorm.weight"])
            m = rms_norm(h, w[p + "pre_feedforward_layernorm.weight"])
        else:
            h = h + ao
            m = rms_norm(h, w[p + "post_attention_layernorm.weight"])
        gate = torch.nn.functional.gelu(linear(m, w, lora, p + "mlp.gate_proj"), approximate="tanh")
        mo = linear(gate * linear(m, w, lora, p + "mlp.up_proj"), w, lora, p + "mlp.down_proj")
        h = h + (rms_norm(mo, w[p + "post_feedforward_layernorm.weight"]) if g2 else mo)
    h = rms_norm(h, w["model.norm.weight"])
    logits = h @ w["model.embed_tokens.weight"].t()
    cap = c.get("final_logit_softcapping")
    return torch.tanh(logits / cap) * cap if cap else logits


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out_dir")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--family", choices=["gemma", "gemma2", "gemma3"], default="gemma")
    a = ap.parse_args()
    if a.family == "gemma2":
        del CONFIG["hidden_act"]
        CONFIG.update(GEMMA2)
    if a.family == "gemma3":
        del CONFIG["hidden_act"]
        CONFIG.update(GEMMA3)
    torch.set_num_threads(1)
    g = torch.Generator().manual_seed(a.seed)
    w = init_weights(g)
    lora = init_lora(g)
    adapter = adapter_config(R, ALPHA, TARGETS)
    merged = {"key": "q_proj0", "weight": "model.layers.0.self_attn.q_proj.weight", "scale": ALPHA / R}
    dump_family(a.out_dir, g, CONFIG, w, lora, forward, adapter, merged)


if __name__ == "__main__":
    main()
