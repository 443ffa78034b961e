"""sliding_dump.py - tiny Mistral and Qwen2 models with sliding-window attention and a PEFT LoRA adapter, against
which loratune's Llama-style sliding windows are tested.

usage: /usr/bin/python3 sliding_dump.py OUT_DIR [--seed 0]
Written for loratune from the math of Hugging Face's Mistral and Qwen2 (RMSNorm, rotate-half RoPE over head_dim,
grouped-query causal attention scaled by 1/sqrt(head_dim), SwiGLU MLP, untied lm_head; Qwen2 with q/k/v biases)
and transformers' sliding-window mask: a query at t sees keys t - sliding_window < s <= t, on every layer for
Mistral (sliding_window set) and for Qwen2 (use_sliding_window true) on layers >= max_window_layers
(transformers' layer_types). PEFT's LoRA on nn.Linear (B(A(x)) * alpha/r). No transformers or peft needed: plain
torch (float32, 1 thread, seeded).

Writes under OUT_DIR/<mistral|qwen2>/:
  model/      config.json and model.safetensors (random init N(0, 0.2), norm weights 1 + 0.1 N, biases 0.1 N)
  adapter/    PEFT's files: target_modules q_proj, k_proj, v_proj, o_proj; r 4, lora_alpha 8; B ~ N(0, 0.02)
  batch.json  B=2, T=16 ids; labels with positions 0..3 of row 1 = -100
  dump.json   loss, logits (first 8 at some positions), every LoRA gradient (shape, l2, first8, last8), greedy
              decode (prompt of 6, 8 tokens, each step's logits first8 from a full forward)
"""
import argparse
import json
import math
import os

import torch
from golden_common import (
    PREFIX,
    adapter_config,
    greedy_decode,
    parity_batch,
    parity_dump,
    save_adapter,
    write_model,
)

BASE = {
    "vocab_size": 96,
    "hidden_size": 32,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "intermediate_size": 48,
    "hidden_act": "silu",
    "max_position_embeddings": 64,
    "rope_theta": 10000.0,
    "rms_norm_eps": 1e-6,
    "tie_word_embeddings": False,
}
MODELS = {
    "mistral": {**BASE, "model_type": "mistral", "architectures": ["MistralForCausalLM"], "sliding_window": 5},
    "qwen2": {
        **BASE,
        "model_type": "qwen2",
        "architectures": ["Qwen2ForCausalLM"],
        "use_sliding_window": True,
        "sliding_window": 4,
        "max_window_layers": 1,
    },
}
TARGETS = ["self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj"]
R, ALPHA = 4, 8


def dims(c):
    C, H, KV = c["hidden_size"], c["num_attention_heads"], c["num_key_value_heads"]
    hd = C // H
    F = c["intermediate_size"]
    return {
        "self_attn.q_proj": (C, H * hd),
        "self_attn.k_proj": (C, KV * hd),
        "self_attn.v_proj": (C, KV * hd),
        "self_attn.o_proj": (H * hd, C),
        "mlp.gate_proj": (C, F),
        "mlp.up_proj": (C, F),
        "mlp.down_proj": (F, C),
    }


def init_weights(c, g):
    C, V = c["hidden_size"], c["vocab_size"]
    n = lambda *shape: 0.2 * torch.randn(*shape, generator=g)  # noqa: E731
    bias = c["model_type"] == "qwen2"
    w = {"model.embed_tokens.weight": n(V, C)}
    for i in range(c["num_hidden_layers"]):
        p = f"model.layers.{i}."
        for norm in ("input_layernorm", "post_attention_layernorm"):
            w[p + norm + ".weight"] = 1 + 0.1 * torch.randn(C, generator=g)
        for name, (nin, nout) in dims(c).items():
            w[p + name + ".weight"] = n(nout, nin)
            if bias and name in ("self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj"):
                w[p + name + ".bias"] = 0.1 * torch.randn(nout, generator=g)
    w["model.norm.weight"] = 1 + 0.1 * torch.randn(C, generator=g)
    w["lm_head.weight"] = n(V, C)
    return w


def init_lora(c, g):
    lora = {}
    for i in range(c["num_hidden_layers"]):
        for t in TARGETS:
            nin, nout = dims(c)[t]
            m = f"{PREFIX}model.layers.{i}.{t}"
            bound = 1 / math.sqrt(nin)
            lora[m + ".lora_A.weight"] = (torch.rand(R, nin, generator=g) * 2 - 1) * bound
            lora[m + ".lora_B.weight"] = 0.02 * torch.randn(nout, R, generator=g)
    return {k: v.clone().requires_grad_(True) for k, v in lora.items()}


def rms_norm(c, x, w):
    var = x.pow(2).mean(-1, keepdim=True)
    return w * (x * torch.rsqrt(var + c["rms_norm_eps"]))


def linear(x, w, lora, module):
    y = x @ w[module + ".weight"].t()
    if module + ".bias" in w:
        y = y + w[module + ".bias"]
    key = PREFIX + module
    if lora is not None and key + ".lora_A.weight" in lora:
        y = y + (x @ lora[key + ".lora_A.weight"].t()) @ lora[key + ".lora_B.weight"].t() * (ALPHA / R)
    return y


def rotate_half(x):
    h = x.shape[-1] // 2
    return torch.cat((-x[..., h:], x[..., :h]), dim=-1)


def layer_window(c, i):
    """The layer's sliding window, or None (full causal attention)."""
    if c["model_type"] == "mistral":
        return c.get("sliding_window")
    if c.get("use_sliding_window") and i >= c.get("max_window_layers", 28):
        return c["sliding_window"]
    return None


def forward(c, w, lora, ids):
    B, T = ids.shape
    C, H, KV = c["hidden_size"], c["num_attention_heads"], c["num_key_value_heads"]
    hd = C // H
    inv_freq = 1.0 / (c["rope_theta"] ** (torch.arange(0, hd, 2, dtype=torch.int64).float() / hd))
    freqs = torch.arange(T, dtype=torch.float32)[:, None] * inv_freq[None, :]
    emb = torch.cat((freqs, freqs), dim=-1)
    cos, sin = emb.cos(), emb.sin()
    qi, kj = torch.arange(T)[:, None], torch.arange(T)[None, :]
    h = w["model.embed_tokens.weight"][ids]
    for i in range(c["num_hidden_layers"]):
        p = f"model.layers.{i}."
        window = layer_window(c, i)
        mask = kj <= qi
        if window is not None:
            mask = mask & (kj > qi - window)
        a = rms_norm(c, h, w[p + "input_layernorm.weight"])
        q = linear(a, w, lora, p + "self_attn.q_proj").view(B, T, H, hd).transpose(1, 2)
        k = linear(a, w, lora, p + "self_attn.k_proj").view(B, T, KV, hd).transpose(1, 2)
        v = linear(a, w, lora, p + "self_attn.v_proj").view(B, T, KV, hd).transpose(1, 2)
        q, k = q * cos + rotate_half(q) * sin, k * cos + rotate_half(k) * sin
        k = k.repeat_interleave(H // KV, dim=1)
        v = v.repeat_interleave(H // KV, dim=1)
        s = (q @ k.transpose(-1, -2)) / math.sqrt(hd)
        s = s.masked_fill(~mask, torch.finfo(s.dtype).min)
        att = (torch.softmax(s, dim=-1) @ v).transpose(1, 2).reshape(B, T, H * hd)
        h = h + linear(att, w, lora, p + "self_attn.o_proj")
        m = rms_norm(c, h, w[p + "post_attention_layernorm.weight"])
        act = torch.nn.functional.silu(linear(m, w, lora, p + "mlp.gate_proj")) * linear(m, w, lora, p + "mlp.up_proj")
        h = h + linear(act, w, lora, p + "mlp.down_proj")
    h = rms_norm(c, h, w["model.norm.weight"])
    return h @ w["lm_head.weight"].t()


def dump_model(out, c, g):
    V = c["vocab_size"]
    w = init_weights(c, g)
    write_model(out, c, w)
    lora = init_lora(c, g)
    save_adapter(out, "adapter", adapter_config(R, ALPHA, ["q_proj", "k_proj", "v_proj", "o_proj"]), lora)

    def fwd(lo, x):
        return forward(c, w, lo, x)

    ids, labels = parity_batch(out, g, V)
    dump = parity_dump(fwd, lora, ids, labels, V)
    dump["decode"] = greedy_decode(fwd, lora, ids, with_max=False)
    with open(os.path.join(out, "dump.json"), "w") as f:
        json.dump(dump, f, indent=1)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out_dir")
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    torch.set_num_threads(1)
    g = torch.Generator().manual_seed(a.seed)
    for name, c in MODELS.items():
        dump_model(os.path.join(a.out_dir, name), c, g)


if __name__ == "__main__":
    main()
