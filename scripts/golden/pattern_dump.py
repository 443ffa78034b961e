"""pattern_dump.py - a LoRA adapter with PEFT's rank_pattern, alpha_pattern, layers_to_transform and layers_pattern:
the adapter and a parity dump.

usage: /usr/bin/python3 pattern_dump.py MODEL_DIR BATCH.json OUT_DIR [--seed 0]
Adapter (written to OUT_DIR/adapter in PEFT's format): target_modules q_proj, v_proj; r 8, lora_alpha 16;
rank_pattern {"q_proj": 4}; alpha_pattern {"v_proj": 32}; layers_to_transform [0, 2] with layers_pattern "layers".
As PEFT resolves them (get_pattern_key: the pattern key matching the end of the module name after a dot;
check_target_module_exists: the layer index is the number after ".<layers_pattern>."), q_proj gets r 4 and
scale 16/4 = 4, v_proj r 8 and scale 32/8 = 4, and only blocks 0 and 2 are adapted. A ~ kaiming-uniform as PEFT
inits it and B ~ N(0, 0.02), torch seed --seed, drawn module by module in model order (A then B).
OUT_DIR/dump.json: parity_dump.py's layout (loss, logits, every LoRA gradient) on BATCH.
Written for loratune from PEFT's documented LoraConfig fields; imports the PyTorch reference from $REF.
"""
import argparse
import json
import math
import os
import re
import sys

import torch

REF = os.environ.get("REF") or os.path.join(os.path.dirname(os.path.abspath(__file__)), "../../../shared/reference")
sys.path.insert(0, os.path.abspath(REF))
from llama_ref import LoraLinear, load_model, lora_state_dict, write_safetensors  # noqa: E402

CONFIG = {"r": 8, "lora_alpha": 16, "target_modules": ["q_proj", "v_proj"], "rank_pattern": {"q_proj": 4},
          "alpha_pattern": {"v_proj": 32}, "layers_to_transform": [0, 2], "layers_pattern": "layers"}


def pattern_value(pattern, name, default):
    for key, value in pattern.items():
        if re.match(rf"(.*\.)?({key})$", name):
            return value
    return default


def targeted(name, c):
    if name.split(".")[-1] not in c["target_modules"]:
        return False
    m = re.match(rf".*\.{c['layers_pattern']}\.(\d+)\.", name)
    return m is not None and int(m.group(1)) in c["layers_to_transform"]


def fl(t):
    return [float(x) for x in t.reshape(-1).tolist()]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model_dir")
    ap.add_argument("batch")
    ap.add_argument("out_dir")
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(a.seed)
    model = load_model(a.model_dir)
    for p in model.parameters():
        p.requires_grad_(False)
    c = CONFIG
    found = [(n, m) for n, m in model.named_modules() if isinstance(m, torch.nn.Linear) and targeted(n, c)]
    for name, lin in found:
        r = pattern_value(c["rank_pattern"], name, c["r"])
        alpha = pattern_value(c["alpha_pattern"], name, c["lora_alpha"])
        lora = LoraLinear(lin, r, alpha)                         # A kaiming-uniform, B zero
        with torch.no_grad():
            lora.lora_B.weight.normal_(0.0, 0.02)
        parent = model.get_submodule(name.rsplit(".", 1)[0])
        setattr(parent, name.rsplit(".", 1)[1], lora)
    adapter = os.path.join(a.out_dir, "adapter")
    os.makedirs(adapter, exist_ok=True)
    write_safetensors(os.path.join(adapter, "adapter_model.safetensors"),
                      {k: v.detach() for k, v in lora_state_dict(model).items()}, {"format": "pt"})
    cfg = {"peft_type": "LORA", "task_type": "CAUSAL_LM", "lora_dropout": 0.0, "bias": "none",
           "fan_in_fan_out": False, "use_rslora": False, "use_dora": False, "modules_to_save": None,
           "init_lora_weights": True, "inference_mode": True, "base_model_name_or_path": os.path.abspath(a.model_dir),
           "revision": None, **c}
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
        "lora": {"source": "seeded", "lora_seed": a.seed, "b_std": 0.02, **c},
        "batch": {"B": ids.shape[0], "T": T, "input_ids": ids.tolist(), "labels": labels.tolist()},
        "loss": float(out["loss"]),
        "n_label_tokens": int((labels[:, 1:] != -100).sum()),
        "logits": {"positions": positions, "first8": {str(p): fl(logits0[p, :8]) for p in positions},
                   "seq0_sum": float(logits0.double().sum()), "seq0_abs_sum": float(logits0.double().abs().sum())},
        "lora_grads": {},
    }
    for k, p in lora_state_dict(model).items():
        res["lora_grads"][k] = {"shape": list(p.shape), "l2": float(p.grad.double().norm()),
                                "first8": fl(p.grad.reshape(-1)[:8]), "weight_l2": float(p.detach().double().norm())}
    with open(os.path.join(a.out_dir, "dump.json"), "w") as f:
        json.dump(res, f, indent=1)
    print(json.dumps({"out": a.out_dir, "loss": res["loss"], "n_lora_tensors": len(res["lora_grads"])}))


if __name__ == "__main__":
    main()
