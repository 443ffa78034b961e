/**
 * Crash-safe writes: data goes to a temporary name in the same directory, is flushed, then renamed over the
 * target, so a reader sees either the old file or the complete new one, never a torn one.
 */
import { closeSync, fsyncSync, mkdirSync, openSync, renameSync, rmSync, writeSync } from "node:fs";
import { basename, dirname, join } from "node:path";

let counter = 0;

export function tempPathFor(path: string): string {
  counter += 1;
  return join(dirname(path), `.${basename(path)}.tmp-${process.pid}-${counter}`);
}

/** Writes `chunks` to `path` atomically (temp file + fsync + rename). */
export function writeFileAtomic(path: string, chunks: Uint8Array | string | (Uint8Array | string)[]): void {
  mkdirSync(dirname(path), { recursive: true });
  const tmp = tempPathFor(path);
  const fd = openSync(tmp, "w");
  try {
    for (const chunk of Array.isArray(chunks) ? chunks : [chunks]) {
      if (typeof chunk === "string") writeSync(fd, chunk);
      else writeAll(fd, chunk);
    }
    fsyncSync(fd);
  } catch (err) {
    closeSync(fd);
    rmSync(tmp, { force: true });
    throw err;
  }
  closeSync(fd);
  renameSync(tmp, path);
}

function writeAll(fd: number, bytes: Uint8Array): void {
  let off = 0;
  while (off < bytes.length) off += writeSync(fd, bytes, off, Math.min(bytes.length - off, 1 << 30));
}
