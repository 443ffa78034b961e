"""tokens_dump.py - a LoRA adapter with PEFT's trainable_token_indices: new tokens on a tied model.

usage: /usr/bin/python3 tokens_dump.py MODEL_DIR LORA_ADAPTER_DIR BATCH.json OUT_DIR [--new 2 --seed 0 --jitter 0.05]
The vocabulary grows by NEW rows, as transformers' resize_token_embeddings(mean_resizing=True) starts them: the mean
of the old rows (loratune takes the mean without transformers' 1e-9-covariance sample). Each new row is then moved by
jitter*N(0, 1) (one torch generator, seeded), as after training. The head is tied, so it is the grown table too
(PEFT ties the head's token adapter to the embedding's).
Adapter (OUT_DIR/adapter, PEFT's format): the LoRA tensors of LORA_ADAPTER_DIR plus
base_model.model.model.embed_tokens.token_adapter.trainable_tokens_delta [NEW, C] (the rows themselves: PEFT writes
them over the base rows by index) and trainable_token_indices [V, ..., V+NEW-1] in adapter_config.json.
Batch (OUT_DIR/batch.json): BATCH with the new ids put in: input ids at positions 2 and 5 of row 0, labels at 3 and
6 of row 1 (first new id, then the last), so both the lookup and the head use them.
OUT_DIR/dump.json: parity_dump.py's layout; lora_grads also holds the delta's gradient (its key); logits also the
new columns at each listed position.
Written for loratune from PEFT's documented trainable_token_indices; imports the PyTorch reference from $REF.
"""
import argparse
import json
import os
import sys

import torch

REF = os.environ.get("REF") or os.path.join(os.path.dirname(os.path.abspath(__file__)), "../../../shared/reference")
sys.path.insert(0, os.path.abspath(REF))
from llama_ref import load_adapter, load_model, lora_state_dict, write_safetensors  # noqa: E402

DELTA = "base_model.model.model.embed_tokens.token_adapter.trainable_tokens_delta"


def fl(t):
    return [float(x) for x in t.reshape(-1).tolist()]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model_dir")
    ap.add_argument("lora_adapter")
    ap.add_argument("batch")
    ap.add_argument("out_dir")
    ap.add_argument("--new", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--jitter", type=float, default=0.05)
    a = ap.parse_args()
    torch.set_num_threads(1)
    model = load_model(a.model_dir)
    assert model.config.tie_word_embeddings, "this generator covers a tied model"
    cfg = load_adapter(model, a.lora_adapter)
    g = torch.Generator().manual_seed(a.seed)
    table = model.model.embed_tokens.weight.detach()
    V, C = table.shape
    mean = table.double().mean(0).float()
    rows = mean.expand(a.new, C) + a.jitter * torch.randn((a.new, C), generator=g)
    grown = torch.nn.Parameter(torch.cat([table, rows]).clone())
    model.model.embed_tokens.weight = grown
    model.lm_head.weight = grown                                               # tied: one table
    ids_new = list(range(V, V + a.new))

    adapter = os.path.join(a.out_dir, "adapter")
    os.makedirs(adapter, exist_ok=True)
    tensors = {k: v.detach() for k, v in lora_state_dict(model).items()}
    tensors[DELTA] = rows.clone()
    write_safetensors(os.path.join(adapter, "adapter_model.safetensors"), tensors, {"format": "pt"})
    cfg = dict(cfg, trainable_token_indices=ids_new, base_model_name_or_path=os.path.abspath(a.model_dir))
    with open(os.path.join(adapter, "adapter_config.json"), "w") as f:
        json.dump(cfg, f, indent=2)

    with open(a.batch) as f:
        bj = json.load(f)
    ids = torch.tensor(bj["input_ids"], dtype=torch.long)
    labels = torch.tensor(bj["labels"], dtype=torch.long)
    ids[0, 2], ids[0, 5] = ids_new[0], ids_new[-1]
    labels[1, 3], labels[1, 6] = ids_new[0], ids_new[-1]
    with open(os.path.join(a.out_dir, "batch.json"), "w") as f:
        json.dump({"input_ids": ids.tolist(), "labels": labels.tolist()}, f)

    params = dict(lora_state_dict(model))
    out = model(ids, labels=labels)
    out["loss"].backward()
    logits0 = out["logits"][0].detach()
    T = ids.shape[1]
    positions = sorted({0, 1, T // 2, T - 1})
    res = {
        "model_dir": os.path.abspath(a.model_dir),
        "lora": {"source": "adapter", "path": os.path.abspath(adapter), "trainable_token_indices": ids_new,
                 "seed": a.seed, "jitter": a.jitter},
        "batch": {"B": ids.shape[0], "T": T, "input_ids": ids.tolist(), "labels": labels.tolist()},
        "loss": float(out["loss"]),
        "n_label_tokens": int((labels[:, 1:] != -100).sum()),
        "logits": {"positions": positions, "first8": {str(p): fl(logits0[p, :8]) for p in positions},
                   "new": {str(p): fl(logits0[p, V:]) for p in positions},
                   "seq0_sum": float(logits0.double().sum()), "seq0_abs_sum": float(logits0.double().abs().sum())},
        "lora_grads": {},
    }
    grads = {k: (p.shape, p.grad, p.detach()) for k, p in params.items()}
    grads[DELTA] = (rows.shape, grown.grad[V:], rows)
    for k, (shape, grad, value) in grads.items():
        res["lora_grads"][k] = {"shape": list(shape), "l2": float(grad.double().norm()),
                                "first8": fl(grad.reshape(-1)[:8]), "weight_l2": float(value.double().norm())}
    res["old_rows_grad_l2"] = float(grown.grad[:V].double().norm())
    with open(os.path.join(a.out_dir, "dump.json"), "w") as f:
        json.dump(res, f, indent=1)
    print(json.dumps({"out": a.out_dir, "loss": res["loss"], "n_tensors": len(res["lora_grads"])}))


if __name__ == "__main__":
    main()
