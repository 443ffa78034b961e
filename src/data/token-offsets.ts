/**
 * Character positions → token indices for one tokenized text. @huggingface/tokenizers returns no offsets, so a
 * position is placed by tokenizing the text before it and comparing with the tokens of the whole text.
 *
 * To keep that linear in the text length, the text is cut at the added tokens the tokenization holds
 * (<|im_start|>, <|eot_id|>, </s>, …): the library splits on them before anything else, so the tokens between two
 * of them are the tokens of the text between them. A position inside such a segment then only needs the
 * segment's head tokenized, after the added token before it (so that a Metaspace pre-tokenizer with
 * prepend_scheme "first" sees it as a later piece, as it does in the whole text). A segment that does not
 * tokenize this way to its own tokens (e.g. an added token with lstrip/rstrip) falls back to tokenizing the
 * whole text before the position.
 */
import type { Tokenizer } from "../tokenizer/tokenizer.ts";

/** Where a character position falls among the tokens. */
export interface TokenPosition {
  /** Tokens that end at or before the position; also the index of the token holding it. */
  before: number;
  /** True when a token boundary lies exactly at the position (no token straddles it). */
  exact: boolean;
}

/** A run of text between added tokens: text [start, end) ↔ tokens [tokStart, tokEnd). */
interface Segment {
  start: number;
  end: number;
  tokStart: number;
  tokEnd: number;
  /** The added token right before the segment ("" for the first segment). */
  after: string;
  /** Whether the segment's text tokenizes alone to exactly its tokens; undefined until asked. */
  selfContained?: boolean;
}

export class TokenizedText {
  readonly ids: number[];
  private readonly segments: Segment[];

  constructor(
    private readonly tok: Tokenizer,
    readonly text: string,
  ) {
    this.ids = tok.encodeText(text);
    this.segments = cutAtAddedTokens(tok, text, this.ids);
  }

  /** The token position of character `pos` (0 ≤ pos ≤ text.length). */
  position(pos: number): TokenPosition {
    if (pos <= 0) return { before: 0, exact: true };
    if (pos >= this.text.length) return { before: this.ids.length, exact: true };
    const seg = this.segmentAt(pos);
    if (seg !== null) {
      if (pos === seg.start) return { before: seg.tokStart, exact: true };
      if (pos === seg.end) return { before: seg.tokEnd, exact: true };
      if (pos > seg.end) return { before: seg.tokEnd, exact: false }; // inside the added token after the segment
      if (this.isSelfContained(seg)) {
        const head = this.segmentTokens(seg, pos);
        const k = commonPrefixAt(head, this.ids, seg.tokStart, seg.tokEnd);
        return { before: seg.tokStart + k, exact: head.length === k };
      }
    }
    const head = this.tok.encodeText(this.text.slice(0, pos));
    const k = commonPrefixAt(head, this.ids, 0, this.ids.length);
    return { before: k, exact: head.length === k };
  }

  /** Number of tokens needed to cover text [0, pos): a token straddling `pos` counts. */
  tokensCovering(pos: number): number {
    const p = this.position(pos);
    return p.exact ? p.before : Math.min(p.before + 1, this.ids.length);
  }

  /** The last segment starting at or before `pos` (binary search), or null when the text could not be cut. */
  private segmentAt(pos: number): Segment | null {
    let lo = 0;
    let hi = this.segments.length - 1;
    let found: Segment | null = null;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const s = this.segments[mid] as Segment;
      if (s.start <= pos) {
        found = s;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    return found;
  }

  /** Tokens of the segment's text up to `end`, tokenized after the added token before it. */
  private segmentTokens(seg: Segment, end: number): number[] {
    const ids = this.tok.encodeText(seg.after + this.text.slice(seg.start, end));
    return seg.after === "" ? ids : ids.slice(1);
  }

  private isSelfContained(seg: Segment): boolean {
    if (seg.selfContained === undefined) {
      const alone = this.segmentTokens(seg, seg.end);
      seg.selfContained =
        alone.length === seg.tokEnd - seg.tokStart && alone.every((id, i) => id === this.ids[seg.tokStart + i]);
    }
    return seg.selfContained;
  }
}

/**
 * The segments of `text` between the added tokens found in `ids`, located in order in the text (each added token
 * lies between the end of one segment and the start of the next). Returns [] when an added token's text is not
 * found where the ids say (the fallback then tokenizes whole prefixes).
 */
function cutAtAddedTokens(tok: Tokenizer, text: string, ids: number[]): Segment[] {
  const segments: Segment[] = [];
  let at = 0;
  let tokStart = 0;
  let after = "";
  for (let t = 0; t < ids.length; t++) {
    const added = tok.addedTokenText(ids[t] as number);
    if (added === undefined || added === "") continue;
    const found = text.indexOf(added, at);
    if (found < 0) return [];
    segments.push({ start: at, end: found, tokStart, tokEnd: t, after });
    at = found + added.length;
    tokStart = t + 1;
    after = added;
  }
  segments.push({ start: at, end: text.length, tokStart, tokEnd: ids.length, after });
  return segments;
}

/** Length of the common prefix of `a` and b[from, to). */
function commonPrefixAt(a: number[], b: number[], from: number, to: number): number {
  const n = Math.min(a.length, to - from);
  let i = 0;
  while (i < n && a[i] === b[from + i]) i++;
  return i;
}
