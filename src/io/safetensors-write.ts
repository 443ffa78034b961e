/**
 * Writing safetensors files: header keys sorted after `__metadata__`, JSON padded with spaces to a multiple of
 * 8 bytes, data laid out by element size then name, F32 data converted to BF16/F16 in chunks on the way out, and
 * the whole file written under a temporary name, synced, then renamed (src/io/atomic.ts).
 */
import * as fs from "node:fs";
import { LoratuneError } from "../errors.ts";
import { writeAtomicWith } from "./atomic.ts";
import { f32ToBf16, f32ToF16, HOST_IS_BIG_ENDIAN, swapBytes } from "./dtype.ts";
import { CHUNK_BYTES, ioError, type TensorToWrite, tensorError } from "./safetensors.ts";

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
  const entries = tensors instanceof Map ? [...tensors.entries()] : Object.entries(tensors);
  for (const [name, t] of entries) checkTensorToWrite(path, name, t);
  const byName = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
  const width = (t: TensorToWrite) => (t.dtype === "F32" ? 4 : 2);
  const order = [...entries].sort(([an, a], [bn, b]) => width(b) - width(a) || byName(an, bn));
  const offsets = new Map<string, [number, number]>();
  let pos = 0;
  for (const [name, t] of order) {
    const bytes = t.data.length * width(t);
    offsets.set(name, [pos, pos + bytes]);
    pos += bytes;
  }
  const parts: string[] = [];
  if (metadata !== undefined) parts.push(`"__metadata__":${metadataJson(path, metadata)}`);
  for (const [name, t] of [...entries].sort(([an], [bn]) => byName(an, bn))) {
    const info = { dtype: t.dtype, shape: t.shape, data_offsets: offsets.get(name) };
    parts.push(`${JSON.stringify(name)}:${JSON.stringify(info)}`);
  }
  const json = Buffer.from(`{${parts.join(",")}}`, "utf8");
  const header = Buffer.alloc(8 + Math.ceil(json.length / 8) * 8, 0x20);
  header.writeBigUInt64LE(BigInt(header.length - 8), 0);
  json.copy(header, 8);
  writeAtomically(path, (fd) => {
    let at = writeAll(fd, header, 0);
    for (const [, t] of order) at = writeTensorData(fd, t, at);
  });
}

function checkTensorToWrite(file: string, name: string, t: TensorToWrite): void {
  if (name === "__metadata__") throw tensorError(file, name, "this name is reserved for the metadata");
  if (t.dtype !== "F32" && t.dtype !== "F16" && t.dtype !== "BF16") {
    throw tensorError(file, name, `cannot write dtype ${String(t.dtype)} (expected F32, F16 or BF16)`);
  }
  let numel = 1;
  for (const d of t.shape) {
    if (!Number.isSafeInteger(d) || d < 0) throw tensorError(file, name, `bad shape ${JSON.stringify(t.shape)}`);
    numel *= d;
  }
  const isF32 = t.data instanceof Float32Array;
  if (!isF32 && !(t.data instanceof Uint16Array))
    throw tensorError(file, name, "data must be a Float32Array or Uint16Array");
  if (t.dtype === "F32" && !isF32) throw tensorError(file, name, "F32 data must be a Float32Array");
  if (t.data.length !== numel) {
    throw tensorError(
      file,
      name,
      `shape ${JSON.stringify(t.shape)} has ${numel} elements but data has ${t.data.length}`,
    );
  }
}

function metadataJson(file: string, metadata: Record<string, string>): string {
  const parts: string[] = [];
  for (const [k, v] of Object.entries(metadata)) {
    if (typeof v !== "string") throw tensorError(file, "__metadata__", `value of "${k}" is not a string`);
    parts.push(`${JSON.stringify(k)}:${JSON.stringify(v)}`);
  }
  return `{${parts.join(",")}}`;
}

/** Writes one tensor's little-endian bytes at `at`, converting f32 values to bf16/f16 in chunks. */
function writeTensorData(fd: number, t: TensorToWrite, at: number): number {
  const data = t.data;
  if ((t.dtype === "F32" || data instanceof Uint16Array) && !HOST_IS_BIG_ENDIAN) {
    return writeAll(fd, new Uint8Array(data.buffer, data.byteOffset, data.byteLength), at);
  }
  const f32 = data instanceof Float32Array ? data : undefined;
  const per = Math.max(1, Math.min(data.length, CHUNK_BYTES / 4));
  const scratch = new ArrayBuffer(per * 4);
  for (let i = 0; i < data.length; i += per) {
    const n = Math.min(per, data.length - i);
    let bytes: Uint8Array;
    if (t.dtype === "F32" || f32 === undefined) {
      bytes = new Uint8Array(scratch, 0, n * data.BYTES_PER_ELEMENT);
      bytes.set(new Uint8Array(data.buffer, data.byteOffset + i * data.BYTES_PER_ELEMENT, bytes.length));
    } else {
      const out = new Uint16Array(scratch, 0, n);
      (t.dtype === "BF16" ? f32ToBf16 : f32ToF16)(out, f32.subarray(i, i + n), n);
      bytes = new Uint8Array(scratch, 0, n * 2);
    }
    if (HOST_IS_BIG_ENDIAN) swapBytes(bytes, t.dtype === "F32" ? 4 : 2);
    at = writeAll(fd, bytes, at);
  }
  return at;
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
