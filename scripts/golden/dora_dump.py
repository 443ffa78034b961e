"""dora_dump.py - DoRA (PEFT's use_dora) parity dump: loss, logits, merged logits and every gradient, as JSON.

usage: /usr/bin/python3 dora_dump.py MODEL_DIR ADAPTER_DIR BATCH.json OUT_DIR [--dora-adapter]
         [--mag-seed 0] [--mag-jitter 0.1]
  default         ADAPTER_DIR is a plain LoRA adapter; each module gets lora_magnitude_vector
                  m = ||W + s*B@A||_row * (1 + jitter*N(0,1)) (one torch generator, seeded, drawn in module order),
                  saved with A and B as a DoRA adapter in OUT_DIR/adapter, then dumped.
  --dora-adapter  ADAPTER_DIR is a DoRA adapter (A, B and m all read strictly from the file).
Writes OUT_DIR/dump.json in parity_dump.py's layout plus logits.merged_first8 (the merged model
W' = (m/n)(W + s*B@A)) and the magnitude gradients after the A/B ones.

Written for loratune from the DoRA paper (Liu et al. 2024, eq. 5: W' = m (W + BA) / ||W + BA||_c, the norm
treated as a constant in backward, section 4.3) and PEFT's documented DoRA layer:
  n = ||W + s*B@A|| per output row (detached),
  y = x W^T + b + (m/n - 1) * (x W^T) + (m/n) * s * B(A(x)).
Imports the PyTorch reference's model, LoRA layer and safetensors I/O from $REF (default ../shared/reference).
"""
import argparse
import json
import os
import sys

import torch
import torch.nn.functional as F

REF = os.environ.get("REF") or os.path.join(os.path.dirname(os.path.abspath(__file__)), "../../../shared/reference")
sys.path.insert(0, os.path.abspath(REF))
from llama_ref import (LoraLinear, apply_lora, load_adapter, load_model, lora_state_dict, read_safetensors,  # noqa: E402
                       save_adapter, write_safetensors)

MAG = "lora_magnitude_vector"


class DoraLinear(LoraLinear):
    """A LoraLinear with a magnitude vector m [out]; set by dorafy() (class swap keeps lora_state_dict's walk)."""

    def weight_norm(self):
        W = self.base_layer.weight
        lora_w = self.lora_B.weight @ self.lora_A.weight                      # [out, in]
        return torch.linalg.norm(W + self.scaling * lora_w.detach(), dim=1).detach()

    def forward(self, x):
        """As PEFT's LoRA layer with DoRA: without dropout the base output (less its bias) is reused as x W^T,
        so in backward dy and (m/n - 1) dy meet before the one product with W (this fixes the last bits)."""
        result = self.base_layer(x)
        xd = self.lora_dropout(x)
        lora_result = self.lora_B(self.lora_A(xd))
        scale = (self.lora_magnitude_vector / self.weight_norm()).view(1, -1)
        if isinstance(self.lora_dropout, torch.nn.Identity):
            bias = self.base_layer.bias
            base_nobias = result if bias is None else result - bias
        else:
            base_nobias = F.linear(xd, self.base_layer.weight)
        return result + (scale - 1) * base_nobias + scale * lora_result * self.scaling

    @torch.no_grad()
    def merged_weight(self):
        W = self.base_layer.weight
        Wl = W + self.scaling * (self.lora_B.weight @ self.lora_A.weight)
        return (self.lora_magnitude_vector / torch.linalg.norm(Wl, dim=1)).view(-1, 1) * Wl


def dorafy(model):
    """Swap every LoraLinear to DoraLinear with m = its current weight norm; returns {peft_key: m}."""
    mags = {}
    for n, m in model.named_modules():
        if isinstance(m, LoraLinear):
            m.__class__ = DoraLinear
            m.lora_magnitude_vector = torch.nn.Parameter(m.weight_norm().clone())
            mags[f"base_model.model.{n}.{MAG}"] = m.lora_magnitude_vector
    return mags


def fl(t):
    return [float(x) for x in t.reshape(-1).tolist()]


def load_dora_adapter(model, adapter_dir):
    """Strict DoRA load: LoRA applied per adapter_config.json, then A, B and every magnitude vector copied from
    adapter_model.safetensors; a missing or extra key is an error."""
    with open(os.path.join(adapter_dir, "adapter_config.json")) as f:
        cfg = json.load(f)
    apply_lora(model, cfg["r"], cfg["lora_alpha"], cfg["target_modules"], cfg.get("lora_dropout", 0.0),
               cfg.get("use_rslora", False))
    mags = dorafy(model)
    own = dict(lora_state_dict(model))
    own.update(mags)
    tensors, _ = read_safetensors(os.path.join(adapter_dir, "adapter_model.safetensors"))
    if set(tensors) != set(own):
        raise ValueError(f"DoRA adapter keys mismatch: {sorted(set(tensors) ^ set(own))[:5]}")
    with torch.no_grad():
        for k, v in tensors.items():
            own[k].copy_(v.to(own[k].dtype))
    return cfg, mags


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model_dir")
    ap.add_argument("adapter")
    ap.add_argument("batch")
    ap.add_argument("out_dir")
    ap.add_argument("--dora-adapter", action="store_true")
    ap.add_argument("--mag-seed", type=int, default=0)
    ap.add_argument("--mag-jitter", type=float, default=0.1)
    a = ap.parse_args()

    torch.set_num_threads(1)
    model = load_model(a.model_dir)
    if a.dora_adapter:
        cfg, mags = load_dora_adapter(model, a.adapter)
        adapter_path = a.adapter
    else:
        cfg = load_adapter(model, a.adapter)
        mags = dorafy(model)
        g = torch.Generator().manual_seed(a.mag_seed)
        with torch.no_grad():
            for m in mags.values():
                m.mul_(1 + a.mag_jitter * torch.randn(m.shape, generator=g))
        adapter_path = os.path.join(a.out_dir, "adapter")
        save_adapter(model, adapter_path, os.path.abspath(a.model_dir))
        tensors = {k: v.detach() for k, v in lora_state_dict(model).items()}
        tensors.update({k: v.detach() for k, v in mags.items()})
        write_safetensors(os.path.join(adapter_path, "adapter_model.safetensors"), tensors, {"format": "pt"})
        cpath = os.path.join(adapter_path, "adapter_config.json")
        with open(cpath) as f:
            saved = json.load(f)
        saved["use_dora"] = True
        with open(cpath, "w") as f:
            json.dump(saved, f, indent=2)

    with open(a.batch) as f:
        bj = json.load(f)
    ids = torch.tensor(bj["input_ids"], dtype=torch.long)
    labels = torch.tensor(bj["labels"], dtype=torch.long) if bj.get("labels") is not None else ids.clone()

    model.train()   # dropout is 0
    out = model(ids, labels=labels)
    out["loss"].backward()
    logits0 = out["logits"][0].detach()
    T = ids.shape[1]
    positions = sorted({0, 1, T // 2, T - 1})

    merged = load_model(a.model_dir)
    with torch.no_grad():
        for n, m in model.named_modules():
            if isinstance(m, DoraLinear):
                merged.get_submodule(n).weight.copy_(m.merged_weight())
        merged_logits0 = merged(ids)["logits"][0]

    res = {
        "model_dir": os.path.abspath(a.model_dir),
        "lora": {"source": "adapter", "path": os.path.abspath(adapter_path), "r": cfg["r"],
                 "lora_alpha": cfg["lora_alpha"], "use_rslora": cfg.get("use_rslora", False), "use_dora": True,
                 "target_modules": cfg["target_modules"], "mag_seed": a.mag_seed, "mag_jitter": a.mag_jitter},
        "batch": {"B": ids.shape[0], "T": T, "input_ids": ids.tolist(), "labels": labels.tolist()},
        "loss": float(out["loss"]),
        "n_label_tokens": int((labels[:, 1:] != -100).sum()),
        "logits": {"positions": positions,
                   "first8": {str(p): fl(logits0[p, :8]) for p in positions},
                   "merged_first8": {str(p): fl(merged_logits0[p, :8]) for p in positions},
                   "seq0_sum": float(logits0.double().sum()), "seq0_abs_sum": float(logits0.double().abs().sum())},
        "lora_grads": {},
    }
    params = dict(lora_state_dict(model))
    params.update(mags)
    for k, p in params.items():
        gr = p.grad if p.grad is not None else torch.zeros_like(p)
        res["lora_grads"][k] = {"shape": list(p.shape), "l2": float(gr.double().norm()),
                                "first8": fl(gr.reshape(-1)[:8]), "weight_l2": float(p.detach().double().norm())}
    with open(os.path.join(a.out_dir, "dump.json"), "w") as f:
        json.dump(res, f, indent=1)
    print(json.dumps({"out": a.out_dir, "loss": res["loss"], "n_tensors": len(res["lora_grads"])}))


if __name__ == "__main__":
    main()
