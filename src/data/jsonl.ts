/**
 * Streaming JSONL reader. Reads the file in fixed-size chunks (never the whole file as one string), splits
 * on '\n' bytes, decodes each line as strict UTF-8 and parses it as JSON. Every error names `file:line`.
 * Blank lines (only whitespace) are skipped; a trailing '\r' (CRLF files) and a UTF-8 BOM on line 1 are removed.
 */
import { closeSync, openSync, readSync } from "node:fs";
import { LoratuneError } from "../errors.ts";

export interface JsonlRow {
  /** 1-based line number in the file. */
  line: number;
  /** The parsed JSON value of the line (any JSON type; shape checks come later). */
  value: unknown;
}

const CHUNK_BYTES = 1 << 20;
const NEWLINE = 0x0a;

/** Iterate over the JSON rows of `path`. Throws LoratuneError("ERR_DATA" | "ERR_IO") naming file:line. */
export function* readJsonl(path: string, chunkBytes = CHUNK_BYTES): Generator<JsonlRow> {
  for (const { line, bytes } of readLines(path, chunkBytes)) {
    const text = decodeLine(bytes, path, line);
    if (text.trim() === "") continue;
    yield { line, value: parseLine(text, path, line) };
  }
}

/** Iterate over the raw byte lines of a file (without the '\n'), with 1-based line numbers. */
export function* readLines(path: string, chunkBytes = CHUNK_BYTES): Generator<{ line: number; bytes: Uint8Array }> {
  let fd: number;
  try {
    fd = openSync(path, "r");
  } catch (err) {
    throw new LoratuneError("ERR_IO", `${path}: cannot open dataset file (${(err as Error).message})`, { cause: err });
  }
  try {
    const chunk = new Uint8Array(chunkBytes);
    let carry: Uint8Array = new Uint8Array(0); // bytes of an unfinished line from earlier chunks
    let line = 0;
    for (;;) {
      const n = readSync(fd, chunk, 0, chunkBytes, null);
      if (n === 0) break;
      let start = 0;
      for (let i = chunk.indexOf(NEWLINE, 0); i !== -1 && i < n; i = chunk.indexOf(NEWLINE, i + 1)) {
        line++;
        yield { line, bytes: concat(carry, chunk.subarray(start, i)) };
        carry = new Uint8Array(0);
        start = i + 1;
      }
      carry = concat(carry, chunk.subarray(start, n));
    }
    if (carry.length > 0) yield { line: line + 1, bytes: carry };
  } finally {
    closeSync(fd);
  }
}

/** Copy `a` then `b` into a fresh array (a copy is needed: `chunk` is reused by the next read). */
function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a, 0);
  out.set(b, a.length);
  return out;
}

const utf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: false });

/** Strict UTF-8 decode of one line; the error names the byte column of the first bad sequence. */
function decodeLine(bytes: Uint8Array, path: string, line: number): string {
  let end = bytes.length;
  if (end > 0 && bytes[end - 1] === 0x0d) end--; // CRLF
  const body = bytes.subarray(0, end);
  try {
    return utf8.decode(body); // with ignoreBOM: false a leading BOM is dropped
  } catch {
    const col = firstBadUtf8(body);
    throw new LoratuneError(
      "ERR_DATA",
      `${path}:${line}: invalid UTF-8 at byte ${col + 1} of the line (0x${(body[col] ?? 0).toString(16).padStart(2, "0")}); ` +
        "dataset files must be UTF-8 encoded",
    );
  }
}

/** Index of the first byte that starts an invalid UTF-8 sequence (overlongs, surrogates and > U+10FFFF included). */
export function firstBadUtf8(b: Uint8Array): number {
  let i = 0;
  while (i < b.length) {
    const c = b[i] as number;
    let need: number;
    let min: number;
    if (c < 0x80) {
      i++;
      continue;
    } else if (c >= 0xc2 && c <= 0xdf) {
      need = 1;
      min = 0x80;
    } else if (c >= 0xe0 && c <= 0xef) {
      need = 2;
      min = 0x800;
    } else if (c >= 0xf0 && c <= 0xf4) {
      need = 3;
      min = 0x10000;
    } else return i;
    let cp = c & (0x3f >> need);
    for (let k = 1; k <= need; k++) {
      const d = b[i + k];
      if (d === undefined || (d & 0xc0) !== 0x80) return i;
      cp = (cp << 6) | (d & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return i;
    i += need + 1;
  }
  return b.length;
}

function parseLine(text: string, path: string, line: number): unknown {
  try {
    return JSON.parse(text);
  } catch (err) {
    const preview = text.length > 80 ? `${text.slice(0, 77)}...` : text;
    throw new LoratuneError(
      "ERR_DATA",
      `${path}:${line}: invalid JSON (${(err as Error).message}); each line must be one JSON object. Line: ${preview}`,
    );
  }
}
