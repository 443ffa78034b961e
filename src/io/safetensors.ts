/**
 * safetensors files: an 8-byte little-endian u64 header length N, N bytes of UTF-8 JSON
 * (`{"__metadata__": {str: str}?, name: {"dtype", "shape", "data_offsets": [begin, end]}, ...}`, offsets relative
 * to the data section), then the raw little-endian, C-order tensor data.
 *
 * Validation follows the reference (Rust) implementation: header at most 100 MB and inside the file, valid UTF-8
 * starting with "{", known dtype strings, shapes of non-negative integers, and the tensors' byte ranges must tile
 * the data section exactly — sorted by offset, each starts where the previous ended (no overlap, no hole) and the
 * last ends at the end of the file — with each range's length equal to numel · dtype size. Tensors of dtypes
 * other than F32/F16/BF16 (I64, U8, ...) may be present; they are listed in `unsupported` and reading one as a
 * weight is an error naming it.
 *
 * A file is never held in memory whole. Conversions go through a bounded scratch chunk. Writing: safetensors-write.ts;
 * the header's parsing and checks: safetensors-format.ts; a whole file held in memory (the browser bundle):
 * safetensors-bytes.ts.
 */
import * as fs from "node:fs";
import { LoratuneError } from "../errors.ts";
import { weightFormat } from "../tensor/formats/index.ts";
import type { StorageDType, StoredTensor } from "../tensor/stored-tensor.ts";
import { bf16ToF32, f16ToF32, HOST_IS_BIG_ENDIAN, swapBytes } from "./dtype.ts";
import {
  CHUNK_BYTES,
  type FileDType,
  headerLength,
  headerText,
  ioError,
  parseSafetensorsHeader,
  READABLE_DTYPES,
  type SafetensorsFile,
  shortName,
  type TensorInfo,
  tensorError,
} from "./safetensors-format.ts";

export {
  CHUNK_BYTES,
  type FileDType,
  ioError,
  MAX_HEADER_BYTES,
  parseSafetensorsHeader,
  READABLE_DTYPES,
  type SafetensorsFile,
  type TensorInfo,
  type TensorToWrite,
  tensorError,
} from "./safetensors-format.ts";

/** Reads and validates only the header of `path`. */
export function readSafetensorsHeader(path: string): SafetensorsFile {
  const fd = openForRead(path);
  try {
    return readHeaderFromFd(fd, path);
  } finally {
    closeQuietly(fd);
  }
}

/** Reads the length prefix and the header text, bounding what is allocated by the cap and the file size. */
function readHeaderText(fd: number, file: string): { text: string; dataStart: number; fileSize: number } {
  const fileSize = fs.fstatSync(fd).size;
  const prefix = new Uint8Array(Math.min(8, fileSize));
  readFully(fd, file, "the header length", prefix, 0);
  const length = headerLength(file, prefix, fileSize);
  const bytes = new Uint8Array(length);
  readFully(fd, file, "the header", bytes, 8);
  return { text: headerText(file, bytes), dataStart: 8 + length, fileSize };
}

function readHeaderFromFd(fd: number, file: string): SafetensorsFile {
  const { text, dataStart, fileSize } = readHeaderText(fd, file);
  return parseSafetensorsHeader(file, text, dataStart, fileSize);
}

/** Reads one tensor, converting to `as`. */
export function readTensor(file: SafetensorsFile, name: string, as: StorageDType): StoredTensor {
  return readTensors(file, [name], as).get(name)!;
}

/**
 * Applied to each tensor as soon as it is read, before the next is (loading with --quantize quantizes a weight
 * there, so that no more than one weight is ever held in the load dtype).
 */
export type TensorTransform = (name: string, t: StoredTensor) => StoredTensor;

/** Reads the named tensors of one file (opened once), converting to `as`; in the order given. */
export function readTensors(
  file: SafetensorsFile,
  names: Iterable<string>,
  as: StorageDType,
  onTensor?: TensorTransform,
): Map<string, StoredTensor> {
  const infos: TensorInfo[] = [];
  for (const name of names) infos.push(readableInfo(file, name));
  const out = new Map<string, StoredTensor>();
  if (infos.length === 0) return out;
  const fd = openForRead(file.path);
  try {
    const size = fs.fstatSync(fd).size;
    if (size !== file.fileSize) {
      throw ioError(`${file.path}: file size changed from ${file.fileSize} to ${size} bytes since its header was read`);
    }
    for (const info of infos) {
      const t = readTensorAt(fd, file.path, info, as);
      out.set(info.name, onTensor ? onTensor(info.name, t) : t);
    }
  } finally {
    closeQuietly(fd);
  }
  return out;
}

function readableInfo(file: SafetensorsFile, name: string): TensorInfo {
  const info = file.tensors.get(name);
  if (info === undefined) throw tensorError(file.path, name, `not in the file (it has ${file.tensors.size} tensors)`);
  if (!READABLE_DTYPES.has(info.dtype)) {
    throw tensorError(file.path, name, `dtype ${info.dtype} cannot be read as a weight (expected F32, F16 or BF16)`);
  }
  return info;
}

/** Reads every tensor of `path` (all must be F32/F16/BF16), converting to `as`. */
export function readSafetensors(path: string, as: StorageDType): Map<string, StoredTensor> {
  const file = readSafetensorsHeader(path);
  if (file.unsupported.length > 0) {
    const shown = file.unsupported.slice(0, 10).map((n) => `"${shortName(n)}" (${file.tensors.get(n)?.dtype})`);
    const more = file.unsupported.length > 10 ? `, … (${file.unsupported.length} in all)` : "";
    const list = shown.join(", ") + more;
    const what = "tensors of dtypes loratune cannot read as weights (expected F32, F16 or BF16)";
    throw new LoratuneError("ERR_SAFETENSORS_TENSOR", `${path}: ${what}: ${list}`);
  }
  return readTensors(file, file.tensors.keys(), as);
}

/**
 * Positioned read of one tensor into fresh, cache-line-aligned storage in the weight format `as`: the file's bytes
 * as they are when they are the format's own (its fileDType), else chunk by chunk widened to f32 (exact) and
 * encoded by the format.
 */
function readTensorAt(fd: number, file: string, info: TensorInfo, as: StorageDType): StoredTensor {
  const src = info.dtype as FileDType;
  const width = src === "F32" ? 4 : 2;
  const numel = (info.end - info.begin) / width;
  const shape = [...info.shape];
  const what = `tensor "${shortName(info.name)}"`;
  const format = weightFormat(as);
  const out = format.alloc(numel);
  if (format.fileDType === src) {
    readRaw(fd, file, what, info.begin, bytesOf(out), width);
    return { dtype: as, shape, data: out };
  }
  const widen = src === "BF16" ? bf16ToF32 : src === "F16" ? f16ToF32 : null;
  let wide = new Float32Array(0);
  readConverted(fd, file, what, info.begin, numel, width, (chunk, at, n) => {
    if (widen === null) {
      format.fromF32(out, at, chunk as Float32Array, n);
      return;
    }
    if (wide.length < n) wide = new Float32Array(n);
    widen(wide, chunk as Uint16Array, n);
    format.fromF32(out, at, wide, n);
  });
  return { dtype: as, shape, data: out };
}

/** The bytes of a typed-array view (its own range of its buffer). */
function bytesOf(a: Float32Array | Uint16Array | Uint8Array): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}

function readRaw(fd: number, file: string, what: string, pos: number, bytes: Uint8Array, width: 2 | 4): void {
  readFully(fd, file, what, bytes, pos);
  if (HOST_IS_BIG_ENDIAN) swapBytes(bytes, width);
}

/** Reads `numel` elements of `width` bytes at `pos` chunk by chunk; `sink(chunk, firstIndex, count)` converts. */
function readConverted(
  fd: number,
  file: string,
  what: string,
  pos: number,
  numel: number,
  width: 2 | 4,
  sink: (chunk: Float32Array | Uint16Array, at: number, n: number) => void,
): void {
  const per = Math.max(1, Math.min(numel, CHUNK_BYTES / width));
  const scratch = new ArrayBuffer(per * width);
  const view = width === 4 ? new Float32Array(scratch) : new Uint16Array(scratch);
  for (let at = 0; at < numel; at += per) {
    const n = Math.min(per, numel - at);
    readRaw(fd, file, what, pos + at * width, new Uint8Array(scratch, 0, n * width), width);
    sink(view, at, n);
  }
}

function openForRead(path: string): number {
  try {
    return fs.openSync(path, "r");
  } catch (err) {
    throw ioError(`${path}: cannot open safetensors file: ${(err as Error).message}`, err);
  }
}

function closeQuietly(fd: number): void {
  try {
    fs.closeSync(fd);
  } catch {
    // Closing a file opened for reading, or one whose write already failed: nothing to report.
  }
}

/** Fills `bytes` from the file at byte `pos` (a number: positions past 2^31 work), in reads under 1 GiB. */
function readFully(fd: number, file: string, what: string, bytes: Uint8Array, pos: number): void {
  for (let done = 0; done < bytes.length; ) {
    let n: number;
    try {
      n = fs.readSync(fd, bytes, done, Math.min(bytes.length - done, 1 << 30), pos + done);
    } catch (err) {
      throw ioError(`${file}: cannot read ${what} at byte ${pos + done}: ${(err as Error).message}`, err);
    }
    if (n === 0) throw ioError(`${file}: file ends at byte ${pos + done} while reading ${what} (truncated?)`);
    done += n;
  }
}
