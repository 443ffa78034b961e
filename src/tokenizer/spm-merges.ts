/**
 * BPE merges for a SentencePiece-style vocabulary that has scores instead of merges, exactly as Hugging Face's
 * converter derives them when it turns a SentencePiece BPE model into tokenizer.json (transformers'
 * `generate_merges`, used by its LlamaConverter):
 *  - every piece, in id order, contributes each split (left, right) of its characters where both halves are
 *    pieces too, the splits ordered by (id of left, id of right);
 *  - the list is then ordered by the piece's score, highest first, ties by the longer left half, then the longer
 *    right half, and otherwise kept in the order above (Python's sort is stable, also when reversed).
 * Lengths and splits count Unicode code points, as Python's strings do.
 */

/** The merges of distinct `pieces` (ids = positions) ranked by `scores` (same length). */
export function spmMerges(pieces: readonly string[], scores: ArrayLike<number>): [string, string][] {
  const ids = new Map<string, number>();
  pieces.forEach((p, id) => {
    ids.set(p, id);
  });
  const found: Candidate[] = [];
  pieces.forEach((p, id) => {
    for (const c of splitsOf(p, scores[id] ?? 0, ids)) found.push(c);
  });
  found.sort((a, b) => b.score - a.score || b.leftLen - a.leftLen || b.rightLen - a.rightLen);
  return found.map((c) => [c.left, c.right]);
}

interface Candidate {
  left: string;
  right: string;
  score: number;
  leftLen: number;
  rightLen: number;
}

/** The splits of `piece` into two pieces of the vocabulary, by (id of left, id of right). */
function splitsOf(piece: string, score: number, ids: Map<string, number>): Candidate[] {
  const out: (Candidate & { leftId: number; rightId: number })[] = [];
  const n = codePoints(piece);
  let at = 0;
  for (let i = 1; i < n; i++) {
    at += (piece.codePointAt(at) as number) > 0xffff ? 2 : 1;
    const leftId = ids.get(piece.slice(0, at));
    if (leftId === undefined) continue;
    const rightId = ids.get(piece.slice(at));
    if (rightId === undefined) continue;
    out.push({ left: piece.slice(0, at), right: piece.slice(at), score, leftLen: i, rightLen: n - i, leftId, rightId });
  }
  return out.length < 2 ? out : out.sort((a, b) => a.leftId - b.leftId || a.rightId - b.rightId);
}

function codePoints(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i += (s.codePointAt(i) as number) > 0xffff ? 2 : 1) n++;
  return n;
}
