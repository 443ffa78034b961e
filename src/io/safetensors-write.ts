/**
 * Writing safetensors files: header keys sorted after `__metadata__`, JSON padded with spaces to a multiple of
 * 8 bytes, data laid out by element size then name, F32 data converted to BF16/F16 in chunks on the way out
 * (the layout and chunks are safetensors-bytes.ts's, which also makes a file's bytes in memory), and the whole
 * file written under a temporary name, synced, then renamed (src/io/atomic.ts).
 */
import * as fs from "node:fs";
import { LoratuneError } from "../errors.ts";
import { writeAtomicWith } from "./atomic.ts";
import { safetensorsLayout, tensorDataChunks } from "./safetensors-bytes.ts";
import { ioError, type TensorToWrite } from "./safetensors-format.ts";

/**
 * Writes `tensors` to `path`: header keys sorted by name after `__metadata__` (omitted when not given), JSON
 * padded with spaces to a multiple of 8 bytes as the reference writer does. Data are laid out by element size
 * (largest first), then name, so every tensor starts at a multiple of its element size. The file is written
 * under a temporary name in the same directory, synced, then renamed over `path`.
 */
export function writeSafetensors(
  path: string,
  tensors: Record<string, TensorToWrite> | Map<string, TensorToWrite>,
  metadata?: Record<string, string>,
): void {
  const layout = safetensorsLayout(path, tensors, metadata);
  writeAtomically(path, (fd) => {
    let at = writeAll(fd, layout.header, 0);
    for (const t of layout.order) for (const chunk of tensorDataChunks(t)) at = writeAll(fd, chunk, at);
  });
}

function writeAll(fd: number, bytes: Uint8Array, at: number): number {
  for (let done = 0; done < bytes.length; ) {
    const n = Math.min(bytes.length - done, 1 << 30);
    done += fs.writeSync(fd, bytes, done, n, at + done);
  }
  return at + bytes.length;
}

/** Atomic write (src/io/atomic.ts) with failures reported as ERR_IO naming the file. */
function writeAtomically(path: string, write: (fd: number) => void): void {
  try {
    writeAtomicWith(path, write);
  } catch (err) {
    if (err instanceof LoratuneError) throw err;
    throw ioError(`${path}: cannot write safetensors file: ${(err as Error).message}`, err);
  }
}
