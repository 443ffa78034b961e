"""train_loraplus.py - N AdamW steps of LoRA+ training from a PEFT adapter (golden for --loraplus-lr-ratio).

usage: /usr/bin/python3 train_loraplus.py MODEL_DIR INIT_ADAPTER_DIR DATA.jsonl OUT_ADAPTER_DIR
          --loraplus-lr-ratio R [--steps 5] [--batch-size 4] [--lr 1e-3]
The reference's training loop (train_ref.py's semantics: step s uses rows s*B..s*B+B-1, wrapping; mean CE over
label tokens; AdamW betas (0.9, 0.999), eps 1e-8, weight decay 0, constant lr; float32, 1 thread) with the
optimizer grouped as PEFT's create_loraplus_optimizer does (LoRA+, Hayou et al. 2024): every lora_B tensor in
a parameter group at lr * R, every other trainable tensor (lora_A) at lr. Writes the trained adapter in PEFT
format (base_model_name_or_path null) and prints {"losses": [...]} (the loss of each step before its update).
Imports the PyTorch reference's model and adapter I/O from $REF (default ../shared/reference).
"""
import argparse
import json
import os
import sys

import torch

REF = os.environ.get("REF") or os.path.join(os.path.dirname(os.path.abspath(__file__)), "../../../shared/reference")
sys.path.insert(0, os.path.abspath(REF))
from llama_ref import load_adapter, load_model, lora_state_dict, save_adapter  # noqa: E402


def loraplus_groups(named, lr, ratio):
    """PEFT's grouping: lora_B ('.lora_B.' in the name) at lr * ratio; the rest at lr."""
    a = [p for k, p in named.items() if ".lora_B." not in k]
    b = [p for k, p in named.items() if ".lora_B." in k]
    return [{"params": a, "lr": lr}, {"params": b, "lr": lr * ratio}]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model_dir")
    ap.add_argument("init_adapter")
    ap.add_argument("data")
    ap.add_argument("out")
    ap.add_argument("--loraplus-lr-ratio", type=float, required=True)
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--batch-size", type=int, default=4)
    ap.add_argument("--lr", type=float, default=1e-3)
    a = ap.parse_args()
    torch.set_num_threads(1)
    model = load_model(a.model_dir)
    load_adapter(model, a.init_adapter)
    groups = loraplus_groups(lora_state_dict(model), a.lr, a.loraplus_lr_ratio)
    opt = torch.optim.AdamW(groups, lr=a.lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0)
    with open(a.data) as f:
        rows = [json.loads(line) for line in f if line.strip()]
    losses = []
    for s in range(a.steps):
        batch = [rows[(s * a.batch_size + i) % len(rows)] for i in range(a.batch_size)]
        ids = torch.tensor([r["input_ids"] for r in batch])
        labels = torch.tensor([r.get("labels") or r["input_ids"] for r in batch])
        opt.zero_grad()
        loss = model(ids, labels=labels)["loss"]
        loss.backward()
        opt.step()
        losses.append(loss.item())
    save_adapter(model, a.out)
    print(json.dumps({"losses": losses}))


if __name__ == "__main__":
    main()
