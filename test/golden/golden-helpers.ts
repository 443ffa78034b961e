/** Loading the PyTorch-reference golden fixtures (test/fixtures/golden, see its README). */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { ModelInput } from "../../src/model/forward.ts";

export const GOLDEN = join(import.meta.dirname, "..", "fixtures", "golden");

export interface ParityDump {
  loss: number;
  n_label_tokens: number;
  batch: { B: number; T: number; input_ids: number[][]; labels: number[][] };
  logits: { positions: number[]; first8: Record<string, number[]>; seq0_sum: number; seq0_abs_sum: number };
  lora_grads: Record<string, { shape: number[]; l2: number; first8: number[]; weight_l2: number }>;
}

export function readDump(name: string): ParityDump {
  return JSON.parse(readFileSync(join(GOLDEN, "parity", name, "dump.json"), "utf8"));
}

/** Rows of ids with unshifted labels (-100 ignored) → model input with next-token targets (HF convention). */
export function inputFromRows(ids: number[][], labels: (number[] | undefined)[]): ModelInput {
  const B = ids.length;
  const T = ids[0]!.length;
  const input: ModelInput = {
    B,
    T,
    ids: new Int32Array(B * T),
    targets: new Int32Array(B * T),
    pos: new Int32Array(B * T),
    seg: null,
  };
  for (let b = 0; b < B; b++) {
    const lab = labels[b] ?? ids[b]!;
    for (let t = 0; t < T; t++) {
      input.ids[b * T + t] = ids[b]![t]!;
      input.pos[b * T + t] = t;
      input.targets[b * T + t] = t + 1 < T ? lab[t + 1]! : -100;
    }
  }
  return input;
}
