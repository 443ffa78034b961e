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
import json
import math
import os
import struct

import torch

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
PREFIX = "base_model.model."


def write_safetensors(path, tensors, metadata=None):
    header, blobs, off = {}, [], 0
    for name in sorted(tensors):
        data = tensors[name].detach().contiguous().to(torch.float32).numpy().tobytes()
        header[name] = {"dtype": "F32", "shape": list(tensors[name].shape), "data_offsets": [off, off + len(data)]}
        blobs.append(data)
        off += len(data)
    if metadata is not None:
        header["__metadata__"] = metadata
    hb = json.dumps(header, separators=(",", ":")).encode()
    hb += b" " * ((8 - len(hb) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(hb)))
        f.write(hb)
        f.write(b"".join(blobs))


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


def loss_of(logits, labels):
    V = logits.shape[-1]
    return torch.nn.functional.cross_entropy(
        logits[:, :-1].reshape(-1, V), labels[:, 1:].reshape(-1), ignore_index=-100
    )


def fl(t):
    return [float(x) for x in t.reshape(-1).tolist()]


def grad_summary(p):
    g = p.grad
    return {"shape": list(g.shape), "l2": float(g.norm()), "first8": fl(g.reshape(-1)[:8]), "last8": fl(g.reshape(-1)[-8:])}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out_dir")
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    torch.set_num_threads(1)
    g = torch.Generator().manual_seed(a.seed)
    out = a.out_dir
    V = CONFIG["vocab_size"]

    w = init_weights(g)
    os.makedirs(os.path.join(out, "model"), exist_ok=True)
    with open(os.path.join(out, "model", "config.json"), "w") as f:
        json.dump(CONFIG, f, indent=2)
    write_safetensors(os.path.join(out, "model", "model.safetensors"), w, {"format": "pt"})

    lora = init_lora(g)
    adapter_config = {
        "peft_type": "LORA",
        "task_type": "CAUSAL_LM",
        "base_model_name_or_path": "model",
        "r": R,
        "lora_alpha": ALPHA,
        "lora_dropout": 0.0,
        "target_modules": ["c_attn", "c_proj", "c_fc"],
        "fan_in_fan_out": True,
        "bias": "none",
        "use_rslora": False,
        "use_dora": False,
        "init_lora_weights": True,
        "modules_to_save": None,
        "inference_mode": True,
    }

    def save_adapter(d, tensors):
        os.makedirs(os.path.join(out, d), exist_ok=True)
        with open(os.path.join(out, d, "adapter_config.json"), "w") as f:
            json.dump(adapter_config, f, indent=2)
        write_safetensors(os.path.join(out, d, "adapter_model.safetensors"), tensors, {"format": "pt"})

    save_adapter("adapter", lora)

    # Parity batch: loss, logits, every LoRA gradient.
    ids = torch.randint(0, V, (2, 16), generator=g)
    labels = ids.clone()
    labels[1, 0:4] = -100
    with open(os.path.join(out, "batch.json"), "w") as f:
        json.dump({"input_ids": ids.tolist(), "labels": labels.tolist()}, f)
    logits = forward(w, lora, ids)
    loss = loss_of(logits, labels)
    loss.backward()
    positions = [0, 5, 15, 16 + 7, 16 + 15]
    dump = {
        "loss": float(loss),
        "logits": {"positions": positions, "first8": {str(p): fl(logits.reshape(-1, V)[p, :8]) for p in positions}},
        "lora_grads": {k: grad_summary(v) for k, v in lora.items()},
    }

    # Greedy decode, each step a full forward (no cache): loratune's KV-cache decode must agree.
    with torch.no_grad():
        seq = ids[0, :6].tolist()
        steps = []
        for _ in range(8):
            lg = forward(w, lora, torch.tensor([seq]))[0, -1]
            nxt = int(lg.argmax())
            steps.append({"first8": fl(lg[:8]), "token": nxt, "max": float(lg.max())})
            seq.append(nxt)
        dump["decode"] = {"prompt": ids[0, :6].tolist(), "steps": steps}

    # Five AdamW steps on data.jsonl (2 rows a step).
    rows = torch.randint(0, V, (10, 16), generator=g)
    with open(os.path.join(out, "data.jsonl"), "w") as f:
        for r in rows.tolist():
            f.write(json.dumps({"input_ids": r}) + "\n")
    train = {k: v.detach().clone().requires_grad_(True) for k, v in lora.items()}
    opt = torch.optim.AdamW(list(train.values()), lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0)
    losses = []
    for s in range(5):
        batch = rows[2 * s : 2 * s + 2]
        opt.zero_grad()
        step_loss = loss_of(forward(w, train, batch), batch)
        step_loss.backward()
        opt.step()
        losses.append(float(step_loss))
    dump["train_losses"] = losses
    save_adapter("trained", train)

    # Merge (PEFT's merge_and_unload on Conv1D): W[in, out] += transpose(B @ A) * alpha / r.
    with torch.no_grad():
        merged = dict(w)
        for k in lora:
            if not k.endswith(".lora_A.weight"):
                continue
            module = k[len(PREFIX) : -len(".lora_A.weight")]
            delta = (lora[module_key(module, "B")] @ lora[k]).t() * (ALPHA / R)
            merged[module + ".weight"] = w[module + ".weight"] + delta
        c_attn = merged["transformer.h.0.attn.c_attn.weight"]
        mlogits = forward(merged, None, ids)
        dump["merged"] = {
            "c_attn0": {"shape": list(c_attn.shape), "l2": float(c_attn.norm()), "first8": fl(c_attn.reshape(-1)[:8])},
            "logits_first8": {str(p): fl(mlogits.reshape(-1, V)[p, :8]) for p in positions},
        }
    with open(os.path.join(out, "dump.json"), "w") as f:
        json.dump(dump, f, indent=1)


def module_key(module, which):
    return f"{PREFIX}{module}.lora_{which}.weight"


if __name__ == "__main__":
    main()
