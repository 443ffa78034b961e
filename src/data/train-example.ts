/**
 * One row as training keeps it: encoded (encode.ts), cut to seqLen, and dropped when no label token is left.
 * readDataset applies it to every row of a file; the browser page to the demo task's rows, which it draws
 * instead of reading a file, so both train on the same examples.
 */
import type { Tokenizer } from "../tokenizer/tokenizer.ts";
import { countTargets, truncateExample } from "./batch.ts";
import { type EncodeInfo, type EncodeOptions, type Example, encodeRow } from "./encode.ts";
import type { Row, RowSource } from "./shapes.ts";

export interface TrainExample {
  /** The example, cut to seqLen when one is given. */
  example: Example;
  /** Whether it was cut. */
  truncated: boolean;
  /** Positions with a next-token target (0: the row is dropped). */
  labelTokens: number;
}

/** `row` encoded and cut to `opts.seqLen` (when given), with its label-token count. */
export function trainExample(
  row: Row,
  tok: Tokenizer | null,
  opts: EncodeOptions,
  src: RowSource,
  info?: EncodeInfo,
): TrainExample {
  const ex = encodeRow(row, tok, opts, src, info);
  const cut = opts.seqLen !== undefined ? truncateExample(ex, opts.seqLen) : { example: ex, truncated: false };
  return { ...cut, labelTokens: countTargets(cut.example) };
}
