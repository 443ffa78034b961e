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
 * a file is never held in memory whole. Conversions go through a bounded scratch chunk. Writing: safetensors-write.ts.
 * a file is never held in memory whole. Conversions go through a bounded scratch chunk.
 */
import * as fs from "node:fs";
import { LoratuneError } from "../errors.ts";
import { type WeightData, weightFormat } from "../tensor/formats/index.ts";
import type { StorageDType, StoredTensor } from "../tensor/stored-tensor.ts";
import { bf16ToF32, f16ToF32, HOST_IS_BIG_ENDIAN, swapBytes } from "./dtype.ts";
import { previewJson } from "./preview.ts";

export type FileDType = "F32" | "F16" | "BF16";
/** One header entry; begin/end are absolute byte offsets in the file (end exclusive). */
export interface TensorInfo {
  name: string;
  dtype: string;
  shape: number[];
  begin: number;
  end: number;
}
export interface SafetensorsFile {
  path: string;
  /** In data order (by offset). */
  tensors: Map<string, TensorInfo>;
  metadata: Record<string, string>;
  /** Names of tensors whose dtype loratune cannot read as weights (not F32/F16/BF16), sorted. */
  unsupported: string[];
  /** Absolute offset of the data section (8 + header length). */
  dataStart: number;
  /** File size when the header was read; reads check it to catch a file replaced in between. */
  fileSize: number;
}
/** What to write: F32 takes a Float32Array; BF16/F16 take a Float32Array (converted) or a Uint16Array of bits. */
export interface TensorToWrite {
  dtype: FileDType;
  shape: number[];
  /** Float32Array or Uint16Array (checked when written; a block format's bytes have no safetensors dtype). */
  data: WeightData;
}

/** Largest header accepted, as in the reference implementation. */
export const MAX_HEADER_BYTES = 100_000_000;
/** Bits per element of every dtype the format defines. */
const DTYPE_BITS = new Map<string, number>([
  ["BOOL", 8],
  ["F4", 4],
  ["F6_E2M3", 6],
  ["F6_E3M2", 6],
  ["U8", 8],
  ["I8", 8],
  ["F8_E5M2", 8],
  ["F8_E4M3", 8],
  ["F8_E8M0", 8],
  ["I16", 16],
  ["U16", 16],
  ["F16", 16],
  ["BF16", 16],
  ["I32", 32],
  ["U32", 32],
  ["F32", 32],
  ["C64", 64],
  ["F64", 64],
  ["I64", 64],
  ["U64", 64],
]);
/** The dtypes loratune reads as weights. */
export const READABLE_DTYPES: ReadonlySet<string> = new Set<FileDType>(["F32", "F16", "BF16"]);
/** Bytes converted per step when the file dtype differs from the requested one. */
export const CHUNK_BYTES = 8 << 20;

function headerError(file: string, what: string): LoratuneError {
  return new LoratuneError("ERR_SAFETENSORS_HEADER", `${file}: invalid safetensors header: ${what}`);
}

export function tensorError(file: string, name: string, what: string): LoratuneError {
  return new LoratuneError("ERR_SAFETENSORS_TENSOR", `${file}: tensor "${shortName(name)}": ${what}`);
}

/** A tensor name as shown in messages: names come from the file and may be megabytes long. */
function shortName(name: string): string {
  return name.length > 200 ? `${name.slice(0, 199)}…` : name;
}

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
  if (fileSize < 8) throw headerError(file, `the file has ${fileSize} bytes, fewer than the 8-byte header length`);
  const prefix = new Uint8Array(8);
  readFully(fd, file, "the header length", prefix, 0);
  const n = new DataView(prefix.buffer).getBigUint64(0, true);
  if (n > BigInt(MAX_HEADER_BYTES))
    throw headerError(file, `header length ${n} exceeds the ${MAX_HEADER_BYTES}-byte limit`);
  const length = Number(n);
  if (8 + length > fileSize) {
    throw headerError(file, `header length ${length} goes past the end of the ${fileSize}-byte file`);
  }
  const bytes = new Uint8Array(length);
  readFully(fd, file, "the header", bytes, 8);
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }).decode(bytes);
  } catch {
    throw headerError(file, "header is not valid UTF-8");
  }
  return { text, dataStart: 8 + length, fileSize };
}

function readHeaderFromFd(fd: number, file: string): SafetensorsFile {
  const { text, dataStart, fileSize } = readHeaderText(fd, file);
  if (!text.startsWith("{")) throw headerError(file, "the JSON header does not start with '{'");
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw headerError(file, `header is not valid JSON (${(err as Error).message})`);
  }
  if (json === null || typeof json !== "object" || Array.isArray(json)) {
    throw headerError(file, "header is not a JSON object");
  }
  let metadata: Record<string, string> = {};
  const infos: TensorInfo[] = [];
  for (const [key, value] of Object.entries(json)) {
    if (key === "__metadata__") metadata = parseMetadata(file, value);
    else infos.push(parseEntry(file, key, value, dataStart));
  }
  checkLayout(file, infos, dataStart, fileSize);
  const tensors = new Map(infos.map((t) => [t.name, t]));
  const unsupported = infos.filter((t) => !READABLE_DTYPES.has(t.dtype)).map((t) => t.name);
  return { path: file, tensors, metadata, unsupported: unsupported.sort(), dataStart, fileSize };
}

function parseMetadata(file: string, value: unknown): Record<string, string> {
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    throw headerError(file, "__metadata__ is not an object of strings");
  }
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(value)) {
    if (typeof v !== "string") throw headerError(file, `__metadata__ key "${shortName(k)}" is not a string`);
    out[k] = v;
  }
  return out;
}

/** One tensor entry; checks types, dtype, shape, offsets in range and numel · size = byte length. */
function parseEntry(file: string, name: string, value: unknown, dataStart: number): TensorInfo {
  const bad = (what: string) => headerError(file, `tensor "${shortName(name)}": ${what}`);
  if (value === null || typeof value !== "object" || Array.isArray(value)) throw bad("entry is not an object");
  const entry = value as Record<string, unknown>;
  const { dtype, shape, data_offsets: offsets } = entry;
  if (typeof dtype !== "string") throw bad("missing or non-string dtype");
  const bits = DTYPE_BITS.get(dtype);
  if (bits === undefined) throw bad(`unknown dtype ${previewJson(dtype)}`);
  if (!Array.isArray(shape)) throw bad("missing shape (expected an array of non-negative integers)");
  let numel = 1;
  for (const d of shape) {
    if (!Number.isSafeInteger(d) || d < 0)
      throw bad(`shape ${previewJson(shape)} has an entry that is not a non-negative integer`);
    numel *= d;
    if (numel * bits > Number.MAX_SAFE_INTEGER) throw bad(`shape ${previewJson(shape)} is too large`);
  }
  if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every((o) => Number.isSafeInteger(o) && o >= 0)) {
    throw bad("data_offsets must be [begin, end] with non-negative integers");
  }
  const [begin, end] = offsets as [number, number];
  if (end < begin) throw bad(`data_offsets [${begin}, ${end}] end before begin`);
  if ((numel * bits) % 8 !== 0) throw bad(`${numel} elements of ${dtype} do not fill whole bytes`);
  const bytes = (numel * bits) / 8;
  if (end - begin !== bytes) {
    throw bad(
      `shape ${previewJson(shape)} of ${dtype} needs ${bytes} bytes but data_offsets [${begin}, ${end}] hold ${end - begin}`,
    );
  }
  return { name, dtype, shape: shape as number[], begin: dataStart + begin, end: dataStart + end };
}

/** Ranges must lie in the data section and tile it exactly (reference-implementation rule). Sorts `infos`. */
function checkLayout(file: string, infos: TensorInfo[], dataStart: number, fileSize: number): void {
  const dataLen = fileSize - dataStart;
  for (const t of infos) {
    if (t.end > fileSize) {
      throw headerError(
        file,
        `tensor "${shortName(t.name)}": data_offsets [${t.begin - dataStart}, ${t.end - dataStart}] go past the ${dataLen}-byte data section`,
      );
    }
  }
  infos.sort((a, b) => a.begin - b.begin || a.end - b.end);
  let pos = dataStart;
  let prev: TensorInfo | undefined;
  for (const t of infos) {
    if (t.begin < pos) {
      throw headerError(
        file,
        `tensor "${shortName(t.name)}" overlaps tensor "${shortName(prev?.name ?? "")}" (data_offsets [${t.begin - dataStart}, ${t.end - dataStart}])`,
      );
    }
    if (t.begin > pos) {
      throw headerError(
        file,
        `bytes ${pos - dataStart}..${t.begin - dataStart} of the data section before tensor "${shortName(t.name)}" belong to no tensor`,
      );
    }
    pos = t.end;
    prev = t;
  }
  if (pos !== fileSize) {
    throw headerError(file, `the last ${fileSize - pos} bytes of the data section belong to no tensor`);
  }
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

export function ioError(message: string, cause?: unknown): LoratuneError {
  return new LoratuneError("ERR_IO", message, { cause });
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
