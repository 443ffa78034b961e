/**
 * `--quantize`, shared by train, eval, generate and merge: the base's linear weights quantized on load to one of
 * ggml's block formats (model/quantize.ts says which weights, and the fallback for rows that are not whole blocks).
 */
import { QUANTIZE_CHOICES } from "../tensor/formats/index.ts";
import type { OptionDef } from "./options.ts";

export const QUANTIZE_OPTION: OptionDef = {
  key: "quantize",
  kind: "choice",
  help:
    "quantize the base's linear weights on load (ggml's Q8_0 or Q4_K blocks; the embedding, head and norms stay in " +
    "--dtype). Rows not whole 256-value blocks fall back to q8_0. Costs accuracy: the model computes with the " +
    "quantized values, and a merge writes dequantized W + s·B·A",
  choices: QUANTIZE_CHOICES,
  metavar: "q8_0|q4_k",
};
