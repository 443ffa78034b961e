#!/usr/bin/env bash
# make-golden.sh - regenerate test/fixtures/golden/ from the PyTorch reference (../shared/reference).
#
# usage: scripts/make-golden.sh            (from anywhere; REF=/path/to/reference to override)
#
# Needs Debian's python3-torch, python3-numpy and libopenblas0-openmp under /usr/bin/python3. The project's tests
# never run this: they read the files it writes. Everything is float32, 1 thread, seeded, so a rerun on the same
# machine rewrites identical bytes (other BLAS builds may differ in the last bits of the JSON numbers).
# Also needs the project's node_modules (biome formats the JSON at the end).
# Absolute paths the reference writes into JSON (model_dir, adapter path, base_model_name_or_path) are rewritten
# relative to test/fixtures/golden/ at the end, so the fixtures do not depend on where they were made.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
REF="${REF:-$ROOT/../shared/reference}"
REF="$(cd "$REF" && pwd)"
export REF   # scripts/golden/*.py (the project's own generators) import the reference's modules from here
GOLDEN="$ROOT/scripts/golden"
OUT="$ROOT/test/fixtures/golden"
PY=/usr/bin/python3
MODELS=(tiny tiny-llama3 tiny-qwen2 tiny-qwen3)

rm -rf "$OUT/models" "$OUT/parity" "$OUT/train"
mkdir -p "$OUT/models" "$OUT/parity" "$OUT/train"
cd "$OUT"

# keep_targets ADAPTER_DIR MODULE...: drop every LoRA tensor whose module is not listed and set target_modules to
# the list. parity_dump.py only seeds q,k,v,o or all-linear adapters; PEFT's Llama default is q_proj,v_proj, so
# the q,v adapters are a seeded q,k,v,o init with k/o removed (the kept tensors are unchanged bytes).
# Plain stdlib Python: rewrites the safetensors header with new offsets, copies each kept blob.
keep_targets() {
  "$PY" - "$@" <<'EOF'
import json, struct, sys
d, keep = sys.argv[1], sys.argv[2:]
p = d + "/adapter_model.safetensors"
with open(p, "rb") as f:
    (n,) = struct.unpack("<Q", f.read(8)); h = json.loads(f.read(n)); data = f.read()
meta = h.pop("__metadata__", None)
kept = sorted(k for k in h if k.split(".")[-3] in keep)
hdr, blobs, off = {}, [], 0
for k in kept:
    b, e = h[k]["data_offsets"]; blobs.append(data[b:e])
    hdr[k] = {"dtype": h[k]["dtype"], "shape": h[k]["shape"], "data_offsets": [off, off + e - b]}; off += e - b
if meta is not None:
    hdr["__metadata__"] = meta
hb = json.dumps(hdr, separators=(",", ":")).encode()
hb += b" " * ((8 - len(hb) % 8) % 8)
with open(p, "wb") as f:
    f.write(struct.pack("<Q", len(hb))); f.write(hb); f.write(b"".join(blobs))
c = json.load(open(d + "/adapter_config.json"))
c["target_modules"] = sorted(keep)
json.dump(c, open(d + "/adapter_config.json", "w"), indent=2)
EOF
}

# 1. Models: random-init HF dirs (config.json + model.safetensors F32), seed 0.
#    tiny: llama, 5 layers, hidden 64, 8 heads / 4 kv, vocab 512, tied. tiny-llama3: 4 heads / 1 kv, untied,
#    rope_scaling llama3. tiny-qwen2: q/k/v biases. tiny-qwen3: q/k norms, head_dim 32.
"$PY" "$REF/make_model.py" "${MODELS[@]}" --out models --seed 0

# 2. Parity dumps: one forward + backward, f32. Each case dir: adapter/ (PEFT), batch.json, dump.json.
#    (a) q_proj,v_proj r=8 alpha=16, B=2 T=16 batch-seed 0, for every model: seeded q,k,v,o init with
#        B ~ N(0, 0.02) saved, cut to q,v, then dumped by loading that adapter (so the dump is exactly of the file).
for m in "${MODELS[@]}"; do
  c="parity/$m-qv"
  mkdir -p "$c"
  "$PY" "$REF/parity_dump.py" "models/$m" /dev/null --lora-seed 0 --r 8 --alpha 16 --save-adapter "$c/adapter"
  keep_targets "$c/adapter" q_proj v_proj
  "$PY" "$REF/parity_dump.py" "models/$m" "$c/dump.json" --adapter "$c/adapter" --B 2 --T 16 --batch-seed 0 \
    --save-batch "$c/batch.json"
done

# (b) tiny, all seven linear targets, r=8 alpha=16 (seeded directly by parity_dump.py).
c=parity/tiny-all-linear
mkdir -p "$c"
"$PY" "$REF/parity_dump.py" models/tiny "$c/dump.json" --lora-seed 0 --r 8 --alpha 16 --all-linear \
  --B 2 --T 16 --batch-seed 0 --save-adapter "$c/adapter" --save-batch "$c/batch.json"

# (c) tiny, rsLoRA r=4 alpha=8 (scale 8/sqrt(4) = 4), q_proj,v_proj.
c=parity/tiny-rslora
mkdir -p "$c"
"$PY" "$REF/parity_dump.py" models/tiny /dev/null --lora-seed 0 --r 4 --alpha 8 --rslora --save-adapter "$c/adapter"
keep_targets "$c/adapter" q_proj v_proj
"$PY" "$REF/parity_dump.py" models/tiny "$c/dump.json" --adapter "$c/adapter" --B 2 --T 16 --batch-seed 0 \
  --save-batch "$c/batch.json"

# (d) tiny, the (a) adapter and batch with labels[:, 0:5] = -100 (first 5 tokens of each sequence masked).
c=parity/tiny-masked
mkdir -p "$c"
cp -r parity/tiny-qv/adapter "$c/adapter"
"$PY" - parity/tiny-qv/batch.json "$c/batch.in.json" <<'EOF'
import json, sys
b = json.load(open(sys.argv[1]))
b["labels"] = [[-100] * 5 + row[5:] for row in b["input_ids"]]
json.dump(b, open(sys.argv[2], "w"))
EOF
"$PY" "$REF/parity_dump.py" models/tiny "$c/dump.json" --adapter "$c/adapter" --batch "$c/batch.in.json" \
  --save-batch "$c/batch.json"
rm "$c/batch.in.json"

# (e) tiny, DoRA (PEFT's use_dora): the (a) adapter plus lora_magnitude_vector = ||W + s*B@A|| per row times
#     (1 + 0.1*N(0,1)), seed 0; dump.json also holds the merged model's logits (merged_first8).
#     scripts/golden/dora_dump.py is the project's own generator (DoRA paper, PEFT's documented layer).
c=parity/tiny-dora
mkdir -p "$c"
"$PY" "$GOLDEN/dora_dump.py" models/tiny parity/tiny-qv/adapter parity/tiny-qv/batch.json "$c"
cp parity/tiny-qv/batch.json "$c/batch.json"

# 3. Training: 5 AdamW steps (lr 1e-3, batch 4) on tiny from two q_proj,v_proj r=8 alpha=16 init adapters:
#    b0 = PEFT init (B = 0, so grad(A) = 0 at step 1), bnz = B ~ N(0, 0.02) (A moves from step 1).
#    data.jsonl: 20 rows of 16 ids < 512 (Python random, seed 0); rows 1, 6, 13 carry "labels" with some -100,
#    the other rows have no "labels" (labels = input_ids). Each row is used exactly once (5 steps x 4 rows).
"$PY" - train/data.jsonl <<'EOF'
import json, random, sys
rng = random.Random(0)
masks = {1: range(0, 4), 6: range(8, 16), 13: [2, 3, 7, 11]}
with open(sys.argv[1], "w") as f:
    for i in range(20):
        ids = [rng.randrange(512) for _ in range(16)]
        row = {"input_ids": ids}
        if i in masks:
            row["labels"] = [-100 if t in masks[i] else x for t, x in enumerate(ids)]
        f.write(json.dumps(row) + "\n")
EOF
for v in b0 bnz; do
  std=0; [ "$v" = bnz ] && std=0.02
  "$PY" "$REF/parity_dump.py" models/tiny /dev/null --lora-seed 1 --r 8 --alpha 16 --b-std "$std" \
    --save-adapter "train/$v/init"
  keep_targets "train/$v/init" q_proj v_proj
  "$PY" "$REF/train_ref.py" models/tiny "train/$v/init" train/data.jsonl "train/$v/trained" \
    --steps 5 --batch-size 4 --lr 1e-3 >"train/$v/losses.json"
done
# LoRA+: bnz's init, lora_B in an AdamW group at 16 x lr (PEFT's create_loraplus_optimizer grouping), by the
# project's scripts/golden/train_loraplus.py (the reference's training loop semantics, grouped optimizer).
mkdir -p train/bnz-loraplus
"$PY" "$GOLDEN/train_loraplus.py" models/tiny train/bnz/init train/data.jsonl train/bnz-loraplus/trained \
  --steps 5 --batch-size 4 --lr 1e-3 --loraplus-lr-ratio 16 >train/bnz-loraplus/losses.json

# 4. Parity case (f), after train/data.jsonl exists:
# (f) tiny, a DoRA adapter loratune trains and saves (5 steps on train/data.jsonl, lr 1e-2, LoRA+ ratio 4,
#     seed 3), loaded strictly by the reference (m from the file) and dumped on the (a) batch.
c=parity/tiny-dora-loratune
mkdir -p "$c/adapter"
run="$(mktemp -d)"
node "$ROOT/bin/loratune.js" train --model models/tiny --data train/data.jsonl --out "$run/run" --steps 5 \
  --batch-size 4 --lr 1e-2 --dora --loraplus-lr-ratio 4 --seed 3 >/dev/null
cp "$run/run/adapter_config.json" "$run/run/adapter_model.safetensors" "$c/adapter/"
rm -rf "$run"
"$PY" "$GOLDEN/dora_dump.py" models/tiny "$c/adapter" parity/tiny-qv/batch.json "$c" --dora-adapter
cp parity/tiny-qv/batch.json "$c/batch.json"

# ---- initialisation from the base weight (PiSSA, OLoRA) -----------------------------------------------------------
# (g) parity/tiny-pissa, parity/tiny-olora: tiny, q_proj,v_proj r=8 alpha=16 initialised from W (PEFT's
#     init_lora_weights), on (a)'s batch: init.safetensors (A, B, residual W) and dump.json.
# train/pissa, train/olora: 5 AdamW steps (lr 1e-3, batch 4, train/data.jsonl) from that init; trained/ is the
#     adapter converted to a plain rank-16 LoRA on the original base; check.json: the reference's loss with it.
#     scripts/golden/init_dump.py is the project's generator (PiSSA and OLoRA papers, PEFT's init_lora_weights).
for init in pissa olora; do
  mkdir -p "parity/tiny-$init" "train/$init"
  "$PY" "$GOLDEN/init_dump.py" parity models/tiny parity/tiny-qv/batch.json "parity/tiny-$init" --init "$init" >/dev/null
  "$PY" "$GOLDEN/init_dump.py" train models/tiny train/data.jsonl parity/tiny-qv/batch.json "train/$init" \
    --init "$init" >/dev/null
done
# ---- end of initialisation from the base weight --------------------------------------------------------------------

# ---- rank_pattern / alpha_pattern / layers_pattern -----------------------------------------------------------------
# (h) parity/tiny-patterns: tiny, q_proj,v_proj r=8 alpha=16 with rank_pattern {q_proj: 4}, alpha_pattern
#     {v_proj: 32}, layers_to_transform [0, 2], layers_pattern "layers" (scripts/golden/pattern_dump.py, PEFT's
#     documented fields), seed 0, B ~ N(0, 0.02); adapter/, batch.json (a)'s, dump.json.
mkdir -p parity/tiny-patterns
"$PY" "$GOLDEN/pattern_dump.py" models/tiny parity/tiny-qv/batch.json parity/tiny-patterns >/dev/null
cp parity/tiny-qv/batch.json parity/tiny-patterns/batch.json
# ---- end of rank_pattern / alpha_pattern / layers_pattern ----------------------------------------------------------

# ---- modules_to_save ----------------------------------------------------------------------------------------------
# (i) parity/tiny-modules: (a)'s q_proj,v_proj adapter plus modules_to_save ["lm_head", "embed_tokens"] on the tied
#     tiny: each module its own copy of the table + 0.01*N(0,1) (seed 0), saved under PEFT's keys
#     (scripts/golden/modules_dump.py); adapter/, batch.json (a)'s, dump.json with both modules' gradients.
mkdir -p parity/tiny-modules
"$PY" "$GOLDEN/modules_dump.py" models/tiny parity/tiny-qv/adapter parity/tiny-qv/batch.json parity/tiny-modules >/dev/null
cp parity/tiny-qv/batch.json parity/tiny-modules/batch.json
# ---- end of modules_to_save ----------------------------------------------------------------------------------------

# ---- new tokens (trainable_token_indices) ---------------------------------------------------------------------------
# (j) parity/tiny-tokens: (a)'s q_proj,v_proj adapter plus 2 new tokens on the tied tiny: vocabulary 512 -> 514, the
#     new rows the old rows' mean + 0.05*N(0,1) (seed 0), saved as PEFT's token_adapter.trainable_tokens_delta with
#     trainable_token_indices [512, 513] (scripts/golden/tokens_dump.py); adapter/, batch.json ((a)'s with the new
#     ids put in), dump.json with the delta's gradient and the new logit columns.
mkdir -p parity/tiny-tokens
"$PY" "$GOLDEN/tokens_dump.py" models/tiny parity/tiny-qv/adapter parity/tiny-qv/batch.json parity/tiny-tokens >/dev/null
# ---- end of new tokens ---------------------------------------------------------------------------------------------

# ---- preference tuning (DPO, cDPO, IPO, ORPO) ---------------------------------------------------------------------
# 5. preference/: one batch of 3 preference pairs (6 rows: chosen then rejected, prompts masked, padded) on tiny
#    with the (a) q_proj,v_proj adapter; per case the loss, sequence log-probs (policy and adapter-off
#    reference), rewards and every LoRA gradient. Written by scripts/golden/preference_dump.py from the papers.
rm -rf preference
"$PY" "$ROOT/scripts/golden/preference_dump.py" models/tiny parity/tiny-qv/adapter preference >/dev/null
# ---- end of preference tuning --------------------------------------------------------------------------------------

# ---- GPT-2 (issue 20) -----------------------------------------------------------------------------------------------
# 6. gpt2/: a tiny GPT-2 (n_embd 32, 2 layers, 4 heads, vocab 96, Conv1D weights [in, out], tied head) with a PEFT
#    LoRA adapter over c_attn, c_proj, c_fc (fan_in_fan_out true, r 4, alpha 8, B ~ N(0, 0.02)): loss, logits,
#    every LoRA gradient, a greedy decode (full forward each step), 5 AdamW steps and the merged model.
#    scripts/golden/gpt2_dump.py is the project's generator (Hugging Face's GPT-2 math, PEFT's Conv1D LoRA).
rm -rf gpt2
"$PY" "$GOLDEN/gpt2_dump.py" gpt2
# ---- end of GPT-2 --------------------------------------------------------------------------------------------------

# 8. phi3/: a tiny Phi-4-mini-shaped phi3 (hidden 64, 2 layers, 4 heads / 2 kv, partial_rotary_factor 0.75, longrope
#    short/long factors, max 256 over original 64, sliding_window 10, untied head) with a PEFT LoRA adapter over the
#    fused qkv_proj and gate_up_proj and o_proj, down_proj (r 4, alpha 8, B ~ N(0, 0.02)): loss, logits, every LoRA
#    gradient, a 70-token sequence (long_factor), a greedy decode (full forward each step), 5 AdamW steps and the
#    merged model. scripts/golden/phi3_dump.py is the project's generator (Hugging Face's Phi-3 math, PEFT's LoRA).
rm -rf phi3
"$PY" "$GOLDEN/phi3_dump.py" phi3
# ---- end of Phi-3 --------------------------------------------------------------------------------------------------

# 9. sliding/: tiny Mistral (sliding_window 5, every layer) and Qwen2 (use_sliding_window, window 4 from
#    max_window_layers 1; q/k/v biases) with a PEFT LoRA adapter over q/k/v/o (r 4, alpha 8, B ~ N(0, 0.02)): loss,
#    logits, every LoRA gradient on 16-token rows, a greedy decode past the window (full forward each step).
#    scripts/golden/sliding_dump.py is the project's generator (Hugging Face's Mistral/Qwen2 math, transformers'
#    sliding-window mask).
rm -rf sliding
"$PY" "$GOLDEN/sliding_dump.py" sliding
# ---- end of sliding windows ----------------------------------------------------------------------------------------

# ---- Gemma (issue 20) ----------------------------------------------------------------------------------------------
# 7. gemma/: a tiny Gemma (hidden 32, 2 layers, 4 heads / 2 kv heads, head_dim 16, intermediate 48, vocab 96, norm
#    weights w of 1 + w, tied head) with a PEFT LoRA adapter over all seven linears (r 4, alpha 8, B ~ N(0, 0.02)):
#    loss, logits, every LoRA gradient, a greedy decode (full forward each step), 5 AdamW steps and the merged model.
#    scripts/golden/gemma_dump.py is the project's generator (Hugging Face's Gemma math, PEFT's LoRA).
#    gemma2/: the same with --family gemma2 (four norms a block, query_pre_attn_scalar 24, attention soft-cap 2, a
#    4-key sliding window on even layers, final soft-cap 3).
#    gemma3/: --family gemma3 (gemma3_text: q/k norms, sliding_window_pattern 2 so layer 0 slides over 4 keys with
#    rope_local_base_freq 1e4 and layer 1 is global with rope_theta 1e6 and linear rope_scaling 2, no soft-caps).
rm -rf gemma gemma2 gemma3
"$PY" "$GOLDEN/gemma_dump.py" gemma
"$PY" "$GOLDEN/gemma_dump.py" gemma2 --family gemma2
"$PY" "$GOLDEN/gemma_dump.py" gemma3 --family gemma3
# ---- end of Gemma --------------------------------------------------------------------------------------------------

# Make recorded paths relative to test/fixtures/golden/.
find . -name '*.json' -print0 | xargs -0 sed -i "s|$OUT/||g"
# Format the JSON the project's way (biome checks test/**): layout only, plus exponents written 1e-5 not 1e-05;
# every value parses to the same number.
(cd "$ROOT" && npx biome format --write test/fixtures/golden >/dev/null)
du -sh "$OUT"
