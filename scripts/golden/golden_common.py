"""golden_common.py - what the family generators (gemma_dump, gpt2_dump, phi3_dump, sliding_dump) share.

Plain torch, no transformers or peft: the safetensors writer, PEFT's adapter files, the parity batch and its dump
(loss, logits at fixed positions, every LoRA gradient), the greedy decode by full forwards, the 5 AdamW steps, PEFT's
merge (nn.Linear or Conv1D), and dump_family: all of a family fixture from its weights, LoRA tensors and forward.
`fwd(lora, ids)` is the family's forward with its base weights bound: ids [B, T] → logits [B, T, V]. Each helper
draws from the generator `g` in the order the generators always did, so the fixtures keep their bytes.
"""
import json
import os
import struct

import torch

PREFIX = "base_model.model."
# Parity-batch positions whose first 8 logits are dumped (rows of 16: 0, 5, 15 of row 0; 7, 15 of row 1).
POSITIONS = [0, 5, 15, 16 + 7, 16 + 15]


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


def weight_summary(t):
    """A merged weight as dump.json's "merged" holds it: shape, l2, first 8 values."""
    return {"shape": list(t.shape), "l2": float(t.norm()), "first8": fl(t.reshape(-1)[:8])}


def write_model(out, config, w):
    """OUT/model/: config.json and model.safetensors."""
    os.makedirs(os.path.join(out, "model"), exist_ok=True)
    with open(os.path.join(out, "model", "config.json"), "w") as f:
        json.dump(config, f, indent=2)
    write_safetensors(os.path.join(out, "model", "model.safetensors"), w, {"format": "pt"})


def adapter_config(r, alpha, target_modules, fan_in_fan_out=False):
    """PEFT's adapter_config.json for a plain LoRA (no dropout, bias none) on the base in ./model."""
    return {
        "peft_type": "LORA",
        "task_type": "CAUSAL_LM",
        "base_model_name_or_path": "model",
        "r": r,
        "lora_alpha": alpha,
        "lora_dropout": 0.0,
        "target_modules": target_modules,
        "fan_in_fan_out": fan_in_fan_out,
        "bias": "none",
        "use_rslora": False,
        "use_dora": False,
        "init_lora_weights": True,
        "modules_to_save": None,
        "inference_mode": True,
    }


def save_adapter(out, d, config, tensors):
    """OUT/d/: adapter_config.json and adapter_model.safetensors (PEFT's names)."""
    os.makedirs(os.path.join(out, d), exist_ok=True)
    with open(os.path.join(out, d, "adapter_config.json"), "w") as f:
        json.dump(config, f, indent=2)
    write_safetensors(os.path.join(out, d, "adapter_model.safetensors"), tensors, {"format": "pt"})


def parity_batch(out, g, V):
    """B=2, T=16 ids < V; labels with positions 0..3 of row 1 = -100; written to OUT/batch.json."""
    ids = torch.randint(0, V, (2, 16), generator=g)
    labels = ids.clone()
    labels[1, 0:4] = -100
    with open(os.path.join(out, "batch.json"), "w") as f:
        json.dump({"input_ids": ids.tolist(), "labels": labels.tolist()}, f)
    return ids, labels


def parity_dump(fwd, lora, ids, labels, V):
    """One forward + backward: the loss, the logits' first 8 at POSITIONS and every LoRA gradient."""
    logits = fwd(lora, ids)
    loss = loss_of(logits, labels)
    loss.backward()
    return {
        "loss": float(loss),
        "logits": {"positions": POSITIONS, "first8": {str(p): fl(logits.reshape(-1, V)[p, :8]) for p in POSITIONS}},
        "lora_grads": {k: grad_summary(v) for k, v in lora.items()},
    }


def greedy_decode(fwd, lora, ids, with_max=True):
    """8 greedy tokens after ids[0, :6], each step a full forward (no cache): loratune's KV-cache decode must agree."""
    with torch.no_grad():
        seq = ids[0, :6].tolist()
        steps = []
        for _ in range(8):
            lg = fwd(lora, torch.tensor([seq]))[0, -1]
            nxt = int(lg.argmax())
            step = {"first8": fl(lg[:8]), "token": nxt}
            if with_max:
                step["max"] = float(lg.max())
            steps.append(step)
            seq.append(nxt)
        return {"prompt": ids[0, :6].tolist(), "steps": steps}


def train_adamw(out, g, V, fwd, lora):
    """OUT/data.jsonl (10 rows of 16 ids) and 5 AdamW steps on it (2 rows a step, lr 1e-3, torch defaults, no
    weight decay) from a copy of lora: (the trained tensors, the 5 losses)."""
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
        step_loss = loss_of(fwd(train, batch), batch)
        step_loss.backward()
        opt.step()
        losses.append(float(step_loss))
    return train, losses


def merge_lora(w, lora, scale, conv1d=False):
    """PEFT's merge_and_unload for every adapted module (no grad): nn.Linear W[out, in] += B @ A * scale; Conv1D
    (conv1d true) W[in, out] += transpose(B @ A) * scale."""
    merged = dict(w)
    for k in lora:
        if not k.endswith(".lora_A.weight"):
            continue
        module = k[len(PREFIX) : -len(".lora_A.weight")]
        delta = lora[f"{PREFIX}{module}.lora_B.weight"] @ lora[k]
        if conv1d:
            delta = delta.t()
        merged[module + ".weight"] = w[module + ".weight"] + delta * scale
    return merged


def dump_family(out, g, config, w, lora, forward, adapter, merged, extra=None):
    """Everything a family fixture holds (OUT/: model/, adapter/, batch.json, data.jsonl, trained/, dump.json) from
    its config.json, base weights w, LoRA tensors lora and forward(w, lora, ids) → logits; adapter is its
    adapter_config.json; merged is {"key": dump key, "weight": the merged weight summarised, "scale": alpha / r,
    "conv1d": bool}. extra(dump, fwd, lora), when given, adds the family's own entries before the decode."""
    V = config["vocab_size"]
    write_model(out, config, w)
    save_adapter(out, "adapter", adapter, lora)

    def fwd(lo, x):
        return forward(w, lo, x)

    ids, labels = parity_batch(out, g, V)
    dump = parity_dump(fwd, lora, ids, labels, V)
    if extra is not None:
        extra(dump, fwd, lora)
    dump["decode"] = greedy_decode(fwd, lora, ids)
    train, dump["train_losses"] = train_adamw(out, g, V, fwd, lora)
    save_adapter(out, "trained", adapter, train)
    with torch.no_grad():
        m = merge_lora(w, lora, merged["scale"], merged.get("conv1d", False))
        mlogits = forward(m, None, ids)
        dump["merged"] = {
            merged["key"]: weight_summary(m[merged["weight"]]),
            "logits_first8": {str(p): fl(mlogits.reshape(-1, V)[p, :8]) for p in POSITIONS},
        }
    with open(os.path.join(out, "dump.json"), "w") as f:
        json.dump(dump, f, indent=1)
