/** The shared golden checks' settings for the gemma family (gemma, gemma2, gemma3_text: the same linears and head). */
import assert from "node:assert/strict";
import type { FamilySpec } from "./family-golden.ts";

/** The spec of fixture `dir` with test titles starting `label`. */
export function gemmaSpec(dir: string, label: string): FamilySpec {
  return {
    dir,
    label,
    targets: "(all seven linears)",
    params: { count: 28, what: "2 layers x 7 linears x (A, B)" },
    adamMoveTol: 1e-2,
    merged: {
      count: 14,
      title: "q_proj",
      weight: "model.layers.0.self_attn.q_proj.weight",
      dumpKey: "q_proj0",
      name: "q_proj",
      headStored: false,
    },
    save: {
      title: "same keys and shapes, and reload",
      check(saved, json) {
        assert.ok(saved.has("base_model.model.model.layers.1.mlp.down_proj.lora_B.weight"));
        assert.equal(json.fan_in_fan_out, false);
        assert.deepEqual([...json.target_modules].sort(), [
          "down_proj",
          "gate_proj",
          "k_proj",
          "o_proj",
          "q_proj",
          "up_proj",
          "v_proj",
        ]);
      },
    },
  };
}
