"""preference_dump.py - preference-tuning goldens (DPO, cDPO, IPO, ORPO): loss, sequence log-probs, rewards and
every LoRA gradient of one batch of preference pairs, as JSON.

usage: /usr/bin/python3 preference_dump.py MODEL_DIR ADAPTER_DIR OUT_DIR [--pairs 3] [--seed 0]

Writes OUT_DIR/batch.json and OUT_DIR/<case>.json for each case below.

The batch: `--pairs` P pairs, 2P rows (rows 0..P-1 chosen, P..2P-1 rejected, TRL's concatenated layout), right
padded with id 0 to the longest row. Pair i shares a random prompt between its two rows; each side has its own
random completion (different lengths). Labels are unshifted (HF convention): -100 on the prompt and on padding,
the token id on the completion, so the next-token targets of a row are exactly its completion's tokens.

Written for loratune from the papers and TRL's documented behaviour (not from TRL's code):
  sequence log-prob  logp(y|x) = sum over completion tokens of log softmax(logits)[target] (TRL sums; IPO and
                     ORPO use the per-token average, sum / completion tokens).
  reference          the same model with the LoRA adapter switched off (scaling 0): TRL's PEFT path.
  dpo   Rafailov et al. 2023, eq. 7; cDPO label smoothing eps (Mitchell 2023):
        z = beta*((pc - pr) - (rc - rr)); loss = mean(-(1-eps)*logsigmoid(z) - eps*logsigmoid(-z))
  ipo   Azar et al. 2023, eq. 17: h = (pc - pr) - (rc - rr) on average log-probs; loss = mean((h - 1/(2 beta))^2)
  orpo  Hong et al. 2024, eqs. 4-7: log odds(y) = a - log(1 - exp(a)) with a the average log-prob;
        loss = NLL(chosen, mean over chosen completion tokens) + lambda * mean(-logsigmoid(lo_c - lo_r))
  rewards  DPO/IPO: beta*(policy - reference) per side; ORPO: lambda * average log-prob.
Imports the PyTorch reference's model, LoRA layer and adapter loading from $REF (default ../shared/reference).
"""
import argparse
import json
import os
import sys

import torch
import torch.nn.functional as F

REF = os.environ.get("REF") or os.path.join(os.path.dirname(os.path.abspath(__file__)), "../../../shared/reference")
sys.path.insert(0, os.path.abspath(REF))
from llama_ref import LoraLinear, load_adapter, load_model, lora_state_dict  # noqa: E402

CASES = {
    "dpo": dict(method="dpo", beta=0.1, label_smoothing=0.0),
    "dpo-smooth": dict(method="dpo", beta=0.5, label_smoothing=0.2),
    "ipo": dict(method="ipo", beta=0.5),
    "orpo": dict(method="orpo", orpo_lambda=0.5),
}


def make_batch(vocab, pairs, seed):
    g = torch.Generator().manual_seed(seed)
    rand = lambda lo, hi: int(torch.randint(lo, hi, (1,), generator=g))  # noqa: E731
    rows = []
    prompts = [torch.randint(1, vocab, (rand(3, 7),), generator=g).tolist() for _ in range(pairs)]
    chosen = [torch.randint(1, vocab, (rand(2, 7),), generator=g).tolist() for _ in range(pairs)]
    rejected = [torch.randint(1, vocab, (rand(2, 7),), generator=g).tolist() for _ in range(pairs)]
    for comps in (chosen, rejected):
        for p, c in zip(prompts, comps):
            rows.append((p + c, [-100] * len(p) + c))
    T = max(len(ids) for ids, _ in rows)
    ids = [r + [0] * (T - len(r)) for r, _ in rows]
    labels = [lab + [-100] * (T - len(lab)) for _, lab in rows]
    return {"input_ids": ids, "labels": labels}


def sequence_logps(model, ids, labels):
    """Per row: sum of completion-token log-probs and their count (targets = labels shifted by one)."""
    logits = model(ids)["logits"][:, :-1]
    targets = labels[:, 1:]
    mask = targets != -100
    lp = torch.log_softmax(logits, dim=-1).gather(-1, targets.clamp(min=0).unsqueeze(-1)).squeeze(-1)
    return (lp * mask).sum(-1), mask.sum(-1)


def set_scaling(model, value):
    old = []
    for m in model.modules():
        if isinstance(m, LoraLinear):
            old.append(m.scaling)
            m.scaling = value if not isinstance(value, list) else value.pop(0)
    return old


def loss_of(case, pol, n, ref):
    P = pol.shape[0] // 2
    pc, pr, nc, nr = pol[:P], pol[P:], n[:P].double(), n[P:].double()
    if case["method"] == "dpo":
        b, eps = case["beta"], case["label_smoothing"]
        z = b * ((pc - pr) - (ref[:P] - ref[P:]))
        losses = -(1 - eps) * F.logsigmoid(z) - eps * F.logsigmoid(-z)
        return losses.mean(), b * (pc - ref[:P]), b * (pr - ref[P:]), pc, pr
    if case["method"] == "ipo":
        b = case["beta"]
        ac, ar = pc / nc, pr / nr
        h = (ac - ar) - (ref[:P] / nc - ref[P:] / nr)
        return ((h - 1 / (2 * b)) ** 2).mean(), b * (ac - ref[:P] / nc), b * (ar - ref[P:] / nr), ac, ar
    lam = case["orpo_lambda"]
    ac, ar = pc / nc, pr / nr
    lo = (ac - torch.log1p(-torch.exp(ac))) - (ar - torch.log1p(-torch.exp(ar)))
    nll = -pc.sum() / nc.sum()
    return nll + lam * (-F.logsigmoid(lo)).mean(), lam * ac, lam * ar, ac, ar


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model_dir")
    ap.add_argument("adapter_dir")
    ap.add_argument("out_dir")
    ap.add_argument("--pairs", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    torch.set_num_threads(1)
    model = load_model(a.model_dir)
    load_adapter(model, a.adapter_dir)
    os.makedirs(a.out_dir, exist_ok=True)
    batch = make_batch(model.config.vocab_size, a.pairs, a.seed)
    with open(os.path.join(a.out_dir, "batch.json"), "w") as f:
        json.dump(batch, f)
    ids = torch.tensor(batch["input_ids"])
    labels = torch.tensor(batch["labels"])
    with torch.no_grad():
        saved = set_scaling(model, 0.0)
        ref, _ = sequence_logps(model, ids, labels)
        set_scaling(model, saved)
    ref = ref.double()
    params = lora_state_dict(model)
    for name, case in CASES.items():
        for p in params.values():
            p.grad = None
            p.requires_grad_(True)
        pol, n = sequence_logps(model, ids, labels)
        loss, rc, rr, lc, lr = loss_of(case, pol.double(), n, ref)
        loss.backward()
        out = {
            "case": case,
            "loss": loss.item(),
            "policy_logps": pol.tolist(),
            "reference_logps": ref.tolist(),
            "completion_tokens": n.tolist(),
            "chosen_rewards": rc.tolist(),
            "rejected_rewards": rr.tolist(),
            "chosen_logps": lc.tolist(),
            "rejected_logps": lr.tolist(),
            "lora_grads": {k: {"shape": list(p.shape), "l2": p.grad.norm().item(),
                               "first8": p.grad.flatten()[:8].tolist()} for k, p in params.items()},
        }
        with open(os.path.join(a.out_dir, f"{name}.json"), "w") as f:
            json.dump(out, f, indent=1)
        print(f"{name}: loss {out['loss']:.6f}")


if __name__ == "__main__":
    main()
