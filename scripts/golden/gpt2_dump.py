"""gpt2_dump.py - a tiny GPT-2 with a PEFT LoRA adapter (fan_in_fan_out) against which loratune's gpt2 family is tested.

usage: /usr/bin/python3 gpt2_dump.py OUT_DIR [--seed 0]
Written for loratune from the math of Hugging Face's GPT-2 (modeling_gpt2.py: GPT2LMHeadModel, Conv1D, LayerNorm,
NewGELUActivation "gelu_new", causal attention scaled by 1/sqrt(head_dim), the head tied to wte) and PEFT's LoRA
on Conv1D targets (fan_in_fan_out true: lora_A [r, in] and lora_B [out, r] as for nn.Linear, the path
B(A(x)) * alpha/r added to the Conv1D's output; merge adds transpose(B @ A) * alpha/r to the [in, out] weight).
No transformers or peft needed: plain torch (float32, 1 thread, seeded).

Writes under OUT_DIR:
  model/            config.json (model_type gpt2) and model.safetensors (GPT2LMHeadModel's names, Conv1D [in, out],
                    no lm_head.weight: tied), random init N(0, 0.2), LayerNorm weights 1 + 0.1 N, biases 0.1 N
  adapter/          PEFT's files: adapter_config.json (target_modules c_attn, c_proj, c_fc; fan_in_fan_out true;
                    r 4, lora_alpha 8) and adapter_model.safetensors (base_model.model.transformer.h.N.<module>
                    .lora_A.weight ...), A kaiming-uniform(a=sqrt(5)) as PEFT, B ~ N(0, 0.02)
  batch.json        B=2, T=16 ids < vocab; labels with positions 0..3 of row 1 = -100
  data.jsonl        10 rows of 16 ids (5 training steps of 2 rows)
  trained/          the adapter after 5 AdamW steps (lr 1e-3, torch defaults, weight decay 0) on data.jsonl
  dump.json         loss, logits (first 8 at some positions), every LoRA gradient (shape, l2, first8, last8),
                    greedy decode (prompt, 8 tokens, each step's logits first8 from a full forward), the 5 training
                    losses, and the merged model (c_attn of layer 0 as stored [in, out]: l2, first8; logits first8)
"""
import argparse
import math

import torch
from golden_common import PREFIX, adapter_config, dump_family

CONFIG = {
    "model_type": "gpt2",
    "architectures": ["GPT2LMHeadModel"],
    "vocab_size": 96,
    "n_positions": 64,
    "n_embd": 32,
    "n_layer": 2,
    "n_head": 4,
    "n_inner": None,
    "activation_function": "gelu_new",
    "layer_norm_epsilon": 1e-5,
    "bos_token_id": 0,
    "eos_token_id": 0,
    "tie_word_embeddings": True,
}
TARGETS = ["attn.c_attn", "attn.c_proj", "mlp.c_fc", "mlp.c_proj"]
R, ALPHA = 4, 8


def init_weights(g):
    c = CONFIG
    C, F, V = c["n_embd"], 4 * c["n_embd"], c["vocab_size"]
    n = lambda *shape: 0.2 * torch.randn(*shape, generator=g)  # noqa: E731
    w = {"transformer.wte.weight": n(V, C), "transformer.wpe.weight": n(c["n_positions"], C)}
    for i in range(c["n_layer"]):
        p = f"transformer.h.{i}."
        for ln in ("ln_1", "ln_2"):
            w[p + ln + ".weight"] = 1 + 0.1 * torch.randn(C, generator=g)
            w[p + ln + ".bias"] = 0.1 * torch.randn(C, generator=g)
        for name, nx, nf in (("attn.c_attn", C, 3 * C), ("attn.c_proj", C, C), ("mlp.c_fc", C, F), ("mlp.c_proj", F, C)):
            w[p + name + ".weight"] = n(nx, nf)  # Conv1D: [in, out]
            w[p + name + ".bias"] = n(nf)
    w["transformer.ln_f.weight"] = 1 + 0.1 * torch.randn(C, generator=g)
    w["transformer.ln_f.bias"] = 0.1 * torch.randn(C, generator=g)
    return w


def init_lora(g):
    """PEFT's init of lora_A (kaiming_uniform a=sqrt(5): bound 1/sqrt(in)); B ~ N(0, 0.02) so every gradient moves."""
    C = CONFIG["n_embd"]
    dims = {"attn.c_attn": (C, 3 * C), "attn.c_proj": (C, C), "mlp.c_fc": (C, 4 * C), "mlp.c_proj": (4 * C, C)}
    lora = {}
    for i in range(CONFIG["n_layer"]):
        for t in TARGETS:
            nin, nout = dims[t]
            m = f"{PREFIX}transformer.h.{i}.{t}"
            bound = 1 / math.sqrt(nin)
            lora[m + ".lora_A.weight"] = (torch.rand(R, nin, generator=g) * 2 - 1) * bound
            lora[m + ".lora_B.weight"] = 0.02 * torch.randn(nout, R, generator=g)
    return {k: v.clone().requires_grad_(True) for k, v in lora.items()}


def layer_norm(x, w, b):
    mu = x.mean(-1, keepdim=True)
    var = ((x - mu) ** 2).mean(-1, keepdim=True)
    return (x - mu) / torch.sqrt(var + CONFIG["layer_norm_epsilon"]) * w + b


def gelu_new(x):
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * torch.pow(x, 3.0))))


def conv1d(x, w, lora, module):
    """Conv1D (x @ W + b, W [in, out]) plus PEFT's LoRA path when the module is adapted (no dropout)."""
    y = x @ w[module + ".weight"] + w[module + ".bias"]
    key = PREFIX + module
    if lora is not None and key + ".lora_A.weight" in lora:
        y = y + (x @ lora[key + ".lora_A.weight"].t()) @ lora[key + ".lora_B.weight"].t() * (ALPHA / R)
    return y


def forward(w, lora, ids):
    c = CONFIG
    B, T = ids.shape
    C, H = c["n_embd"], c["n_head"]
    hd = C // H
    h = w["transformer.wte.weight"][ids] + w["transformer.wpe.weight"][torch.arange(T)][None]
    mask = torch.tril(torch.ones(T, T, dtype=torch.bool))
    for i in range(c["n_layer"]):
        p = f"transformer.h.{i}."
        a = layer_norm(h, w[p + "ln_1.weight"], w[p + "ln_1.bias"])
        q, k, v = conv1d(a, w, lora, p + "attn.c_attn").split(C, dim=2)
        q, k, v = (t.view(B, T, H, hd).transpose(1, 2) for t in (q, k, v))
        s = (q @ k.transpose(-1, -2)) / math.sqrt(hd)
        s = s.masked_fill(~mask, torch.finfo(s.dtype).min)
        att = (torch.softmax(s, dim=-1) @ v).transpose(1, 2).reshape(B, T, C)
        h = h + conv1d(att, w, lora, p + "attn.c_proj")
        m = layer_norm(h, w[p + "ln_2.weight"], w[p + "ln_2.bias"])
        h = h + conv1d(gelu_new(conv1d(m, w, lora, p + "mlp.c_fc")), w, lora, p + "mlp.c_proj")
    h = layer_norm(h, w["transformer.ln_f.weight"], w["transformer.ln_f.bias"])
    return h @ w["transformer.wte.weight"].t()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out_dir")
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    torch.set_num_threads(1)
    g = torch.Generator().manual_seed(a.seed)
    w = init_weights(g)
    lora = init_lora(g)
    adapter = adapter_config(R, ALPHA, ["c_attn", "c_proj", "c_fc"], fan_in_fan_out=True)
    # PEFT's merge_and_unload on Conv1D: W[in, out] += transpose(B @ A) * alpha / r.
    merged = {"key": "c_attn0", "weight": "transformer.h.0.attn.c_attn.weight", "scale": ALPHA / R, "conv1d": True}
    dump_family(a.out_dir, g, CONFIG, w, lora, forward, adapter, merged)


if __name__ == "__main__":
    main()
