/**
 * Crash-safe writes: data goes to a temporary name in the same directory, is flushed, then renamed over the
 * target, so a reader sees either the old file or the complete new one, never a torn one.
 */
import { closeSync, fsyncSync, mkdirSync, openSync, renameSync, rmSync, writeSync } from "node:fs";
import { basename, dirname, join } from "node:path";

let counter = 0;

/** Runs `write(fd)` on a fresh temporary file next to `path`, then fsyncs and renames it; removes it on failure. */
export function writeAtomicWith(path: string, write: (fd: number) => void): void {
  mkdirSync(dirname(path), { recursive: true });
  counter += 1;
  const tmp = join(dirname(path), `.${basename(path)}.tmp-${process.pid}-${counter}`);
  let fd: number | undefined = openSync(tmp, "wx");
  try {
    write(fd);
    fsyncSync(fd);
    closeSync(fd);
    fd = undefined;
    renameSync(tmp, path);
  } catch (err) {
    if (fd !== undefined) {
      try {
        closeSync(fd);
      } catch {
        // already failing: the first error is the one to report
      }
    }
    rmSync(tmp, { force: true });
    throw err;
  }
}

/** Writes `chunks` to `path` atomically (temp file + fsync + rename). */
export function writeFileAtomic(path: string, chunks: Uint8Array | string | (Uint8Array | string)[]): void {
  writeAtomicWith(path, (fd) => {
    for (const chunk of Array.isArray(chunks) ? chunks : [chunks]) {
      if (typeof chunk === "string") writeSync(fd, chunk);
      else writeAll(fd, chunk);
    }
  });
}

function writeAll(fd: number, bytes: Uint8Array): void {
  let off = 0;
  while (off < bytes.length) off += writeSync(fd, bytes, off, Math.min(bytes.length - off, 1 << 30));
}
