/**
 * Reading the small JSON files of model and adapter directories (config.json, adapter_config.json,
 * model.safetensors.index.json, tokenizer files) as untrusted input: the size is checked before anything is
 * read (a multi-gigabyte "config" would otherwise exhaust memory or exceed V8's string limit), the bytes must
 * be valid UTF-8 (no silent U+FFFD replacement), and the JSON must be an object. Every error is a
 * LoratuneError of the caller's code that names the file.
 */
import { closeSync, fstatSync, openSync, readSync } from "node:fs";
import { type ErrorCode, LoratuneError } from "../errors.ts";

/** Largest JSON file read; tokenizer.json files of large vocabularies reach a few tens of MB. */
export const MAX_JSON_FILE_BYTES = 256 << 20;

const utf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: false });

/** The raw bytes of `path`, refusing files over `maxBytes`. Errors: ERR_IO (unreadable) or `code` (too large). */
export function readBoundedFile(path: string, code: ErrorCode, maxBytes = MAX_JSON_FILE_BYTES): Uint8Array {
  let fd: number;
  try {
    fd = openSync(path, "r");
  } catch (err) {
    throw new LoratuneError("ERR_IO", `${path}: cannot open (${(err as Error).message})`, { cause: err });
  }
  try {
    const size = fstatSync(fd).size;
    if (size > maxBytes) {
      throw new LoratuneError(code, `${path}: the file has ${size} bytes, more than the ${maxBytes} allowed for it`);
    }
    const bytes = new Uint8Array(size);
    for (let done = 0; done < size; ) {
      const n = readSync(fd, bytes, done, size - done, done);
      if (n === 0) throw new LoratuneError("ERR_IO", `${path}: the file shrank while it was read`);
      done += n;
    }
    return bytes;
  } catch (err) {
    if (err instanceof LoratuneError) throw err;
    throw new LoratuneError("ERR_IO", `${path}: cannot read (${(err as Error).message})`, { cause: err });
  } finally {
    closeSync(fd);
  }
}

/** `path` decoded as strict UTF-8 (a leading BOM is dropped). */
export function readTextFile(path: string, code: ErrorCode, maxBytes = MAX_JSON_FILE_BYTES): string {
  const bytes = readBoundedFile(path, code, maxBytes);
  try {
    return utf8.decode(bytes);
  } catch {
    throw new LoratuneError(code, `${path}: not valid UTF-8 text`);
  }
}

/** `path` parsed as a JSON object; `expected` describes the object in the error for any other JSON value. */
export function readJsonObject(
  path: string,
  code: ErrorCode,
  expected = "a JSON object",
  maxBytes = MAX_JSON_FILE_BYTES,
): Record<string, unknown> {
  const text = readTextFile(path, code, maxBytes);
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new LoratuneError(code, `${path}: not valid JSON (${(err as Error).message})`);
  }
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    throw new LoratuneError(code, `${path}: expected ${expected}`);
  }
  return value as Record<string, unknown>;
}
