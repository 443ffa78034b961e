"""phi3_dump.py - a tiny Phi-3 / Phi-4-mini-shaped model with a PEFT LoRA adapter, against which loratune's phi3
family is tested.

usage: /usr/bin/python3 phi3_dump.py OUT_DIR [--seed 0]
Written for loratune from the math of Hugging Face's Phi-3 (modeling_phi3.py: Phi3ForCausalLM, Phi3RMSNorm, the
fused qkv_proj split into q | k | v rows and gate_up_proj chunked into gate | up, up * silu(gate); RoPE on the
first head_dim * partial_rotary_factor dims of each head (rotate-half within them, the rest passed through);
rope_scaling "longrope" as _compute_longrope_parameters: inv_freq = 1 / (ext * theta^(2i/dim)) with ext the
short_factor while the sequence is within original_max_position_embeddings, cos/sin times
sqrt(1 + ln(s)/ln(original)), s = max_position_embeddings / original_max_position_embeddings; grouped-query causal
attention scaled by 1/sqrt(head_dim), a query at t seeing keys t - sliding_window < s <= t (transformers'
sliding-window mask); an untied lm_head) and PEFT's LoRA on nn.Linear (B(A(x)) * alpha/r; on the
fused modules B has the fused row count). No transformers or peft needed: plain torch (float32, 1 thread, seeded).

Writes under OUT_DIR:
  model/            config.json (model_type phi3, partial_rotary_factor 0.75 as Phi-4-mini, longrope, sliding_window
                    10: the batch, the decode and the long sequence reach past it) and
                    model.safetensors (Phi3ForCausalLM's names), random init N(0, 0.2), norm weights 1 + 0.1 N
  adapter/          PEFT's files: adapter_config.json (target_modules qkv_proj, o_proj, gate_up_proj, down_proj;
                    r 4, lora_alpha 8) and adapter_model.safetensors, A kaiming-uniform(a=sqrt(5)), B ~ N(0, 0.02)
  batch.json        B=2, T=16 ids < vocab; labels with positions 0..3 of row 1 = -100
  data.jsonl        10 rows of 16 ids (5 training steps of 2 rows)
  trained/          the adapter after 5 AdamW steps (lr 1e-3, torch defaults, weight decay 0) on data.jsonl
  dump.json         loss, logits (first 8 at some positions), every LoRA gradient (shape, l2, first8, last8),
                    a 70-token sequence's loss and logits (past original_max_position_embeddings: long_factor),
                    greedy decode (prompt, 8 tokens, each step's logits first8 from a full forward), the 5 training
                    losses, and the merged model (qkv_proj of layer 0: l2, first8; logits first8)
"""
import argparse
import math

import torch
from golden_common import PREFIX, adapter_config, dump_family, fl, loss_of

CONFIG = {
    "model_type": "phi3",
    "architectures": ["Phi3ForCausalLM"],
    "vocab_size": 96,
    "hidden_size": 64,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "intermediate_size": 48,
    "hidden_act": "silu",
    "max_position_embeddings": 256,
    "original_max_position_embeddings": 64,
    "partial_rotary_factor": 0.75,
    "rope_theta": 10000.0,
    "rope_scaling": {
        "type": "longrope",
        "short_factor": [1.0, 1.1, 1.3, 1.7, 2.5, 4.0],
        "long_factor": [1.5, 2.0, 3.0, 5.0, 8.0, 13.0],
    },
    "rms_norm_eps": 1e-5,
    "sliding_window": 10,
    "tie_word_embeddings": False,
    "bos_token_id": 1,
    "eos_token_id": 2,
}
TARGETS = ["self_attn.qkv_proj", "self_attn.o_proj", "mlp.gate_up_proj", "mlp.down_proj"]
R, ALPHA = 4, 8


def sizes():
    c = CONFIG
    C, H, KV = c["hidden_size"], c["num_attention_heads"], c["num_key_value_heads"]
    hd = C // H
    return C, H, KV, hd, c["intermediate_size"], c["vocab_size"]


def linear_dims():
    """module -> (in, out) of nn.Linear."""
    C, H, KV, hd, F, _ = sizes()
    return {
        "self_attn.qkv_proj": (C, H * hd + 2 * KV * hd),
        "self_attn.o_proj": (H * hd, C),
        "mlp.gate_up_proj": (C, 2 * F),
        "mlp.down_proj": (F, C),
    }


def init_weights(g):
    C, _, _, _, _, V = sizes()
    n = lambda *shape: 0.2 * torch.randn(*shape, generator=g)  # noqa: E731
    w = {"model.embed_tokens.weight": n(V, C)}
    for i in range(CONFIG["num_hidden_layers"]):
        p = f"model.layers.{i}."
        for name, (nin, nout) in linear_dims().items():
            w[p + name + ".weight"] = n(nout, nin)
        for norm in ("input_layernorm", "post_attention_layernorm"):
            w[p + norm + ".weight"] = 1 + 0.1 * torch.randn(C, generator=g)
    w["model.norm.weight"] = 1 + 0.1 * torch.randn(C, generator=g)
    w["lm_head.weight"] = n(V, C)
    return w


def init_lora(g):
    """PEFT's init of lora_A (kaiming_uniform a=sqrt(5): bound 1/sqrt(in)); B ~ N(0, 0.02) so every gradient moves."""
    lora = {}
    for i in range(CONFIG["num_hidden_layers"]):
        for t in TARGETS:
            nin, nout = linear_dims()[t]
            m = f"{PREFIX}model.layers.{i}.{t}"
            bound = 1 / math.sqrt(nin)
            lora[m + ".lora_A.weight"] = (torch.rand(R, nin, generator=g) * 2 - 1) * bound
            lora[m + ".lora_B.weight"] = 0.02 * torch.randn(nout, R, generator=g)
    return {k: v.clone().requires_grad_(True) for k, v in lora.items()}


def rms_norm(x, w):
    var = x.pow(2).mean(-1, keepdim=True)
    return w * (x * torch.rsqrt(var + CONFIG["rms_norm_eps"]))


def linear(x, w, lora, module):
    y = x @ w[module + ".weight"].t()
    key = PREFIX + module
    if lora is not None and key + ".lora_A.weight" in lora:
        y = y + (x @ lora[key + ".lora_A.weight"].t()) @ lora[key + ".lora_B.weight"].t() * (ALPHA / R)
    return y


def rope_cos_sin(T):
    """cos, sin [T, rd]: longrope with short factors (T <= original), times the attention factor."""
    c = CONFIG
    _, _, _, hd, _, _ = sizes()
    rd = int(hd * c["partial_rotary_factor"])
    orig = c["original_max_position_embeddings"]
    s = c["max_position_embeddings"] / orig
    attention_factor = 1.0 if s <= 1.0 else math.sqrt(1 + math.log(s) / math.log(orig))
    factors = c["rope_scaling"]["long_factor" if T > orig else "short_factor"]
    ext = torch.tensor(factors, dtype=torch.float32)
    inv_freq = 1.0 / (ext * c["rope_theta"] ** (torch.arange(0, rd, 2, dtype=torch.int64).float() / rd))
    freqs = torch.arange(T, dtype=torch.float32)[:, None] * inv_freq[None, :]
    emb = torch.cat((freqs, freqs), dim=-1)
    return emb.cos() * attention_factor, emb.sin() * attention_factor


def rotate_half(x):
    h = x.shape[-1] // 2
    return torch.cat((-x[..., h:], x[..., :h]), dim=-1)


def apply_rope(x, cos, sin):
    rd = cos.shape[-1]
    rot, rest = x[..., :rd], x[..., rd:]
    return torch.cat((rot * cos + rotate_half(rot) * sin, rest), dim=-1)


def forward(w, lora, ids):
    B, T = ids.shape
    C, H, KV, hd, F, _ = sizes()
    cos, sin = rope_cos_sin(T)
    h = w["model.embed_tokens.weight"][ids]
    i_, j_ = torch.arange(T)[:, None], torch.arange(T)[None, :]
    mask = (j_ <= i_) & (j_ > i_ - CONFIG["sliding_window"])  # causal, keys within the sliding window
    for i in range(CONFIG["num_hidden_layers"]):
        p = f"model.layers.{i}."
        a = rms_norm(h, w[p + "input_layernorm.weight"])
        qkv = linear(a, w, lora, p + "self_attn.qkv_proj")
        q = qkv[..., : H * hd].view(B, T, H, hd).transpose(1, 2)
        k = qkv[..., H * hd : (H + KV) * hd].view(B, T, KV, hd).transpose(1, 2)
        v = qkv[..., (H + KV) * hd :].view(B, T, KV, hd).transpose(1, 2)
        q, k = apply_rope(q, cos, sin), apply_rope(k, cos, sin)
        k = k.repeat_interleave(H // KV, dim=1)
        v = v.repeat_interleave(H // KV, dim=1)
        s = (q @ k.transpose(-1, -2)) / math.sqrt(hd)
        s = s.masked_fill(~mask, torch.finfo(s.dtype).min)
        att = (torch.softmax(s, dim=-1) @ v).transpose(1, 2).reshape(B, T, H * hd)
        h = h + linear(att, w, lora, p + "self_attn.o_proj")
        m = rms_norm(h, w[p + "post_attention_layernorm.weight"])
        gate, up = linear(m, w, lora, p + "mlp.gate_up_proj").chunk(2, dim=-1)
        h = h + linear(up * torch.nn.functional.silu(gate), w, lora, p + "mlp.down_proj")
    h = rms_norm(h, w["model.norm.weight"])
    return h @ w["lm_head.weight"].t()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out_dir")
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    torch.set_num_threads(1)
    g = torch.Generator().manual_seed(a.seed)
    V = CONFIG["vocab_size"]
    w = init_weights(g)
    lora = init_lora(g)
    adapter = adapter_config(R, ALPHA, ["qkv_proj", "o_proj", "gate_up_proj", "down_proj"])
    merged = {"key": "qkv0", "weight": "model.layers.0.self_attn.qkv_proj.weight", "scale": ALPHA / R}

    def long_sequence(dump, fwd, lora):
        """A sequence past original_max_position_embeddings: RoPE with long_factor (no gradients)."""
        with torch.no_grad():
            long_ids = torch.randint(0, V, (1, 70), generator=g)
            long_logits = fwd(lora, long_ids)
            dump["long"] = {
                "input_ids": long_ids[0].tolist(),
                "loss": float(loss_of(long_logits, long_ids)),
                "first8": {str(p): fl(long_logits[0, p, :8]) for p in (0, 40, 69)},
            }

    dump_family(a.out_dir, g, CONFIG, w, lora, forward, adapter, merged, long_sequence)


if __name__ == "__main__":
    main()
