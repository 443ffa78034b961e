/**
 * Text as it is generated, one token at a time: each new token's piece is the decoded text it adds. A token that
 * ends inside a multi-byte character adds nothing until the character is complete, so the pieces are whole
 * characters and, joined, make the text the whole output decodes to (up to a character the last token leaves
 * incomplete, which is never shown).
 */
import type { Tokenizer } from "../tokenizer/tokenizer.ts";

export class TextPieces {
  private readonly ids: number[] = [];
  private shown = "";

  constructor(private readonly tokenizer: Tokenizer | null) {}

  /** The text this token adds ("" while a character is incomplete, or without a tokenizer). */
  push(id: number): string {
    this.ids.push(id);
    if (!this.tokenizer) return "";
    const text = this.tokenizer.decode(this.ids, { skipSpecialTokens: true });
    // An incomplete UTF-8 sequence decodes to U+FFFD at the end: wait for the rest of it.
    if (text.endsWith("\uFFFD") || !text.startsWith(this.shown)) return "";
    const piece = text.slice(this.shown.length);
    this.shown = text;
    return piece;
  }
}
