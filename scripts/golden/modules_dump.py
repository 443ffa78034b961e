"""modules_dump.py - a LoRA adapter with PEFT's modules_to_save ["lm_head", "embed_tokens"] on a tied model.

usage: /usr/bin/python3 modules_dump.py MODEL_DIR LORA_ADAPTER_DIR BATCH.json OUT_DIR [--seed 0 --jitter 0.01]
Adapter (OUT_DIR/adapter, PEFT's format): the LoRA tensors of LORA_ADAPTER_DIR plus, as PEFT saves modules_to_save
(get_peft_model_state_dict strips "modules_to_save.default."), base_model.model.lm_head.weight and
base_model.model.model.embed_tokens.weight: each the base's (tied) table plus jitter*N(0, 1) (one torch generator,
seeded, head first), so the two copies differ as after training. PEFT wraps each named module in its own copy, so
the tie is broken: the embedding looks up its copy, the head projects with its own.
OUT_DIR/dump.json: parity_dump.py's layout on BATCH; lora_grads also holds both modules' gradients (their keys).
Written for loratune from PEFT's documented modules_to_save; imports the PyTorch reference from $REF.
"""
import argparse
import json
import os
import sys

import torch

REF = os.environ.get("REF") or os.path.join(os.path.dirname(os.path.abspath(__file__)), "../../../shared/reference")
sys.path.insert(0, os.path.abspath(REF))
from llama_ref import load_adapter, load_model, lora_state_dict, write_safetensors  # noqa: E402

HEAD, EMBED = "base_model.model.lm_head.weight", "base_model.model.model.embed_tokens.weight"


def fl(t):
    return [float(x) for x in t.reshape(-1).tolist()]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model_dir")
    ap.add_argument("lora_adapter")
    ap.add_argument("batch")
    ap.add_argument("out_dir")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--jitter", type=float, default=0.01)
    a = ap.parse_args()
    torch.set_num_threads(1)
    model = load_model(a.model_dir)
    cfg = load_adapter(model, a.lora_adapter)
    g = torch.Generator().manual_seed(a.seed)
    table = model.model.embed_tokens.weight.detach()
    head = table + a.jitter * torch.randn(table.shape, generator=g)
    embed = table + a.jitter * torch.randn(table.shape, generator=g)
    model.lm_head.weight = torch.nn.Parameter(head.clone())                 # untied: each its own copy
    model.model.embed_tokens.weight = torch.nn.Parameter(embed.clone())
    params = dict(lora_state_dict(model))
    params[HEAD] = model.lm_head.weight
    params[EMBED] = model.model.embed_tokens.weight

    adapter = os.path.join(a.out_dir, "adapter")
    os.makedirs(adapter, exist_ok=True)
    write_safetensors(os.path.join(adapter, "adapter_model.safetensors"), {k: v.detach() for k, v in params.items()},
                      {"format": "pt"})
    cfg = dict(cfg, modules_to_save=["lm_head", "embed_tokens"], base_model_name_or_path=os.path.abspath(a.model_dir))
    with open(os.path.join(adapter, "adapter_config.json"), "w") as f:
        json.dump(cfg, f, indent=2)

    with open(a.batch) as f:
        bj = json.load(f)
    ids = torch.tensor(bj["input_ids"], dtype=torch.long)
    labels = torch.tensor(bj["labels"], dtype=torch.long)
    out = model(ids, labels=labels)
    out["loss"].backward()
    logits0 = out["logits"][0].detach()
    T = ids.shape[1]
    positions = sorted({0, 1, T // 2, T - 1})
    res = {
        "model_dir": os.path.abspath(a.model_dir),
        "lora": {"source": "adapter", "path": os.path.abspath(adapter), "modules_to_save": ["lm_head", "embed_tokens"],
                 "seed": a.seed, "jitter": a.jitter},
        "batch": {"B": ids.shape[0], "T": T, "input_ids": ids.tolist(), "labels": labels.tolist()},
        "loss": float(out["loss"]),
        "n_label_tokens": int((labels[:, 1:] != -100).sum()),
        "logits": {"positions": positions, "first8": {str(p): fl(logits0[p, :8]) for p in positions},
                   "seq0_sum": float(logits0.double().sum()), "seq0_abs_sum": float(logits0.double().abs().sum())},
        "lora_grads": {},
    }
    for k, p in params.items():
        res["lora_grads"][k] = {"shape": list(p.shape), "l2": float(p.grad.double().norm()),
                                "first8": fl(p.grad.reshape(-1)[:8]), "weight_l2": float(p.detach().double().norm())}
    with open(os.path.join(a.out_dir, "dump.json"), "w") as f:
        json.dump(res, f, indent=1)
    print(json.dumps({"out": a.out_dir, "loss": res["loss"], "n_tensors": len(res["lora_grads"])}))


if __name__ == "__main__":
    main()
