"""init_dump.py - LoRA initialised from the base weight (PEFT's init_lora_weights "pissa" / "olora"): goldens.

usage: /usr/bin/python3 init_dump.py parity MODEL_DIR BATCH.json OUT_DIR --init pissa|olora
         [--r 8 --alpha 16 --targets q_proj,v_proj]
       /usr/bin/python3 init_dump.py train MODEL_DIR DATA.jsonl BATCH.json OUT_DIR --init pissa|olora
         [--steps 5 --batch-size 4 --lr 1e-3 --r 8 --alpha 16 --targets q_proj,v_proj]
parity: OUT_DIR/init.safetensors (every lora_A/lora_B as initialised, PEFT keys, and the residual base weight
        under base_model.model.<module>.base_layer.weight) and OUT_DIR/dump.json (parity_dump.py's layout: loss,
        logits and every A/B gradient of one forward/backward on BATCH with the residual base and the init adapter,
        plus base_loss: the unadapted original model's loss, which the init must reproduce).
train:  N AdamW steps as train_ref.py (rows s*B.. in file order, betas 0.9/0.999, eps 1e-8, no decay, constant
        lr) from that init; OUT_DIR/losses.json {"losses": [...]}; OUT_DIR/trained/ the converted adapter (PEFT's
        path_initial_model_for_weight_conversion: a plain LoRA of rank 2r, alpha 2*alpha, A' = [A; A0],
        B' = [B | -B0], init_lora_weights true) and OUT_DIR/check.json: the trained in-memory model's loss on BATCH
        and the loss of the converted adapter loaded strictly (the reference's load_adapter) on the original base
        (they must agree; the script fails if they differ by more than 1e-5 relative).

Written for loratune from the PiSSA paper (Meng et al. 2024: W = U S V^T, A = sqrt(S_r) V_r^T, B = U_r sqrt(S_r),
W_res = W - B A; PEFT divides S_r by the scaling s first so that s*B*A is the principal part) and the OLoRA paper
(Buyukakyuz 2024: W = Q R, A = R[:r], B = Q[:, :r], W_res = W - s*B*A), as PEFT documents init_lora_weights.
Computed in float32 as PEFT does. Singular vectors are only defined up to a sign per pair: each pair is flipped so
the largest-magnitude entry of the left vector is positive (loratune's util/svd.ts convention; s*B*A, the loss and
every trained product are unchanged by it). Imports the PyTorch reference from $REF.
"""
import argparse
import json
import os
import sys

import torch

REF = os.environ.get("REF") or os.path.join(os.path.dirname(os.path.abspath(__file__)), "../../../shared/reference")
sys.path.insert(0, os.path.abspath(REF))
from llama_ref import (LoraLinear, apply_lora, load_adapter, load_model, lora_state_dict,  # noqa: E402
                       save_adapter, write_safetensors)


def pissa_factors(W, r, s):
    V, S, Uh = torch.linalg.svd(W, full_matrices=False)       # W = V diag(S) Uh (PEFT's names)
    for c in range(V.shape[1]):                                 # sign convention: largest |entry| of V[:, c] > 0
        if V[int(V[:, c].abs().argmax()), c] < 0:
            V[:, c] = -V[:, c]
            Uh[c] = -Uh[c]
    Sr = S[:r] / s
    return torch.diag(torch.sqrt(Sr)) @ Uh[:r], V[:, :r] @ torch.diag(torch.sqrt(Sr))


def olora_factors(W, r):
    Q, R = torch.linalg.qr(W)
    return R[:r].contiguous(), Q[:, :r].contiguous()


@torch.no_grad()
def init_from_weight(model, init):
    """Sets every LoraLinear's A, B from its base weight and the base weight to the residual; returns {key: (A0, B0)}."""
    initial = {}
    for n, m in model.named_modules():
        if not isinstance(m, LoraLinear):
            continue
        W = m.base_layer.weight.data.to(torch.float32)
        A, B = pissa_factors(W.clone(), m.r, m.scaling) if init == "pissa" else olora_factors(W, m.r)
        m.lora_A.weight.copy_(A)
        m.lora_B.weight.copy_(B)
        m.base_layer.weight.copy_(W - m.scaling * m.lora_B.weight @ m.lora_A.weight)
        initial[n] = (m.lora_A.weight.detach().clone(), m.lora_B.weight.detach().clone())
    return initial


def fl(t):
    return [float(x) for x in t.reshape(-1).tolist()]


def read_batch(path):
    with open(path) as f:
        bj = json.load(f)
    ids = torch.tensor(bj["input_ids"], dtype=torch.long)
    labels = torch.tensor(bj["labels"], dtype=torch.long) if bj.get("labels") is not None else ids.clone()
    return ids, labels


def fresh(a):
    model = load_model(a.model_dir)
    apply_lora(model, a.r, a.alpha, a.targets.split(","), 0.0, False)
    return model


def parity(a):
    ids, labels = read_batch(a.batch)
    with torch.no_grad():
        base_loss = float(load_model(a.model_dir)(ids, labels=labels)["loss"])
    model = fresh(a)
    init_from_weight(model, a.init)
    tensors = {k: v.detach() for k, v in lora_state_dict(model).items()}
    for n, m in model.named_modules():
        if isinstance(m, LoraLinear):
            tensors[f"base_model.model.{n}.base_layer.weight"] = m.base_layer.weight.detach()
    write_safetensors(os.path.join(a.out_dir, "init.safetensors"), tensors, {"format": "pt"})
    out = model(ids, labels=labels)
    out["loss"].backward()
    logits0 = out["logits"][0].detach()
    T = ids.shape[1]
    positions = sorted({0, 1, T // 2, T - 1})
    res = {
        "model_dir": os.path.abspath(a.model_dir),
        "lora": {"source": "init", "init_lora_weights": a.init, "r": a.r, "lora_alpha": a.alpha,
                 "use_rslora": False, "target_modules": a.targets.split(",")},
        "batch": {"B": ids.shape[0], "T": T, "input_ids": ids.tolist(), "labels": labels.tolist()},
        "loss": float(out["loss"]), "base_loss": base_loss,
        "n_label_tokens": int((labels[:, 1:] != -100).sum()),
        "logits": {"positions": positions, "first8": {str(p): fl(logits0[p, :8]) for p in positions},
                   "seq0_sum": float(logits0.double().sum()), "seq0_abs_sum": float(logits0.double().abs().sum())},
        "lora_grads": {},
    }
    for k, p in lora_state_dict(model).items():
        gr = p.grad if p.grad is not None else torch.zeros_like(p)
        res["lora_grads"][k] = {"shape": list(p.shape), "l2": float(gr.double().norm()),
                                "first8": fl(gr.reshape(-1)[:8]), "weight_l2": float(p.detach().double().norm())}
    with open(os.path.join(a.out_dir, "dump.json"), "w") as f:
        json.dump(res, f, indent=1)
    print(json.dumps({"out": a.out_dir, "loss": res["loss"], "base_loss": base_loss}))


def train(a):
    model = fresh(a)
    initial = init_from_weight(model, a.init)
    params = list(lora_state_dict(model).values())
    opt = torch.optim.AdamW(params, lr=a.lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0)
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
    with open(os.path.join(a.out_dir, "losses.json"), "w") as f:
        json.dump({"losses": losses}, f)
    # Convert: a plain rank-2r LoRA relative to the original base.
    conv = load_model(a.model_dir)
    apply_lora(conv, 2 * a.r, 2 * a.alpha, a.targets.split(","), 0.0, False)
    trained = dict(model.named_modules())
    with torch.no_grad():
        for n, m in conv.named_modules():
            if isinstance(m, LoraLinear):
                A0, B0 = initial[n]
                m.lora_A.weight.copy_(torch.cat([trained[n].lora_A.weight, A0], dim=0))
                m.lora_B.weight.copy_(torch.cat([trained[n].lora_B.weight, -B0], dim=1))
    out = os.path.join(a.out_dir, "trained")
    save_adapter(conv, out)
    # The reference loads the converted adapter strictly on the original base: same model as the trained one.
    ids, labels = read_batch(a.batch)
    loaded = load_model(a.model_dir)
    load_adapter(loaded, out)
    with torch.no_grad():
        trained_loss = float(model(ids, labels=labels)["loss"])
        loaded_loss = float(loaded(ids, labels=labels)["loss"])
    if abs(trained_loss - loaded_loss) > 1e-5 * abs(trained_loss):
        raise SystemExit(f"converted adapter: loss {loaded_loss} on the original base vs {trained_loss} trained")
    with open(os.path.join(a.out_dir, "check.json"), "w") as f:
        json.dump({"batch": os.path.abspath(a.batch), "trained_loss": trained_loss,
                   "converted_on_base_loss": loaded_loss}, f, indent=1)
    print(json.dumps({"losses": losses, "trained_loss": trained_loss, "converted_on_base_loss": loaded_loss}))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=["parity", "train"])
    ap.add_argument("model_dir")
    ap.add_argument("files", nargs="+", help="parity: BATCH OUT_DIR; train: DATA BATCH OUT_DIR")
    ap.add_argument("--init", choices=["pissa", "olora"], required=True)
    ap.add_argument("--r", type=int, default=8)
    ap.add_argument("--alpha", type=float, default=16)
    ap.add_argument("--targets", default="q_proj,v_proj")
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--batch-size", type=int, default=4)
    ap.add_argument("--lr", type=float, default=1e-3)
    a = ap.parse_args()
    torch.set_num_threads(1)
    if a.mode == "parity":
        a.batch, a.out_dir = a.files
        parity(a)
    else:
        a.data, a.batch, a.out_dir = a.files
        train(a)


if __name__ == "__main__":
    main()
