/**
 * safetensors files held whole in memory, without the file system (the browser bundle fetches the model's file and
 * offers the adapter's for download): reading every tensor from the file's bytes, and encoding tensors as the
 * file's bytes. The layout written is safetensors-write.ts's (it writes the same header and chunks to a file), the
 * header's checks are safetensors-format.ts's (the same as for files read at offsets).
 */
import { LoratuneError } from "../errors.ts";
import { weightFormat } from "../tensor/formats/index.ts";
import type { StorageDType, StoredTensor } from "../tensor/stored-tensor.ts";
import { bf16ToF32, f16ToF32, f32ToBf16, f32ToF16, HOST_IS_BIG_ENDIAN, swapBytes } from "./dtype.ts";
import {
  CHUNK_BYTES,
  type FileDType,
  headerLength,
  headerText,
  parseSafetensorsHeader,
  type SafetensorsFile,
  shortName,
  type TensorToWrite,
  tensorError,
} from "./safetensors-format.ts";

/** The parsed and checked header of the safetensors file `bytes` (offsets absolute, as for files). */
export function safetensorsBytesHeader(bytes: Uint8Array, file: string): SafetensorsFile {
  const length = headerLength(file, bytes.subarray(0, 8), bytes.length);
  return parseSafetensorsHeader(file, headerText(file, bytes.subarray(8, 8 + length)), 8 + length, bytes.length);
}

/**
 * Every tensor of the safetensors file `bytes` (all must be F32/F16/BF16), converted to `as`, in data order.
 * `file` names the file in errors (a URL in the browser).
 */
export function readSafetensorsBytes(bytes: Uint8Array, file: string, as: StorageDType): Map<string, StoredTensor> {
  const header = safetensorsBytesHeader(bytes, file);
  if (header.unsupported.length > 0) {
    const list = header.unsupported.map((n) => `"${shortName(n)}" (${header.tensors.get(n)?.dtype})`).join(", ");
    throw new LoratuneError(
      "ERR_SAFETENSORS_TENSOR",
      `${file}: tensors of dtypes loratune cannot read as weights (expected F32, F16 or BF16): ${list}`,
    );
  }
  const format = weightFormat(as);
  const out = new Map<string, StoredTensor>();
  for (const info of header.tensors.values()) {
    const src = info.dtype as FileDType;
    const width = src === "F32" ? 4 : 2;
    const numel = (info.end - info.begin) / width;
    // A copy: the tensor's own, aligned storage (the file's offsets need not be multiples of the element size).
    const raw = new Uint8Array(info.end - info.begin);
    raw.set(bytes.subarray(info.begin, info.end)); // not slice(): a Node Buffer's slice is a view
    if (HOST_IS_BIG_ENDIAN) swapBytes(raw, width);
    const data = format.alloc(numel);
    if (format.fileDType === src) {
      new Uint8Array(data.buffer, data.byteOffset, data.byteLength).set(raw);
    } else if (src === "F32") {
      format.fromF32(data, 0, new Float32Array(raw.buffer), numel);
    } else {
      const wide = new Float32Array(numel);
      (src === "BF16" ? bf16ToF32 : f16ToF32)(wide, new Uint16Array(raw.buffer), numel);
      format.fromF32(data, 0, wide, numel);
    }
    out.set(info.name, { dtype: as, shape: [...info.shape], data });
  }
  return out;
}

/** What a safetensors file is made of, in writing order: the padded header, then each tensor's data. */
export interface SafetensorsLayout {
  /** The 8-byte length prefix and the JSON header, padded with spaces to a multiple of 8 bytes. */
  header: Uint8Array;
  /** The tensors in data order. */
  order: TensorToWrite[];
  /** Bytes of the whole file. */
  size: number;
}

/**
 * The layout of a file holding `tensors`: header keys sorted by name after `__metadata__` (omitted when not
 * given), JSON padded with spaces to a multiple of 8 bytes as the reference writer does; data laid out by element
 * size (largest first), then name, so every tensor starts at a multiple of its element size. `file` names the file
 * in errors.
 */
export function safetensorsLayout(
  file: string,
  tensors: Record<string, TensorToWrite> | Map<string, TensorToWrite>,
  metadata?: Record<string, string>,
): SafetensorsLayout {
  const entries = tensors instanceof Map ? [...tensors.entries()] : Object.entries(tensors);
  for (const [name, t] of entries) checkTensorToWrite(file, name, t);
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
  if (metadata !== undefined) parts.push(`"__metadata__":${metadataJson(file, metadata)}`);
  for (const [name, t] of [...entries].sort(([an], [bn]) => byName(an, bn))) {
    const info = { dtype: t.dtype, shape: t.shape, data_offsets: offsets.get(name) };
    parts.push(`${JSON.stringify(name)}:${JSON.stringify(info)}`);
  }
  const json = new TextEncoder().encode(`{${parts.join(",")}}`);
  const header = new Uint8Array(8 + Math.ceil(json.length / 8) * 8).fill(0x20);
  new DataView(header.buffer).setBigUint64(0, BigInt(header.length - 8), true);
  header.set(json, 8);
  return { header, order: order.map(([, t]) => t), size: header.length + pos };
}

/**
 * One tensor's little-endian bytes, in chunks: the data's own bytes when they are already what is written, else
 * converted (f32 to bf16/f16, or byte-swapped) through one scratch chunk of at most CHUNK_BYTES, which the next
 * chunk overwrites (use each chunk before asking for the next).
 */
export function* tensorDataChunks(t: TensorToWrite): Generator<Uint8Array> {
  const data = t.data;
  if ((t.dtype === "F32" || data instanceof Uint16Array) && !HOST_IS_BIG_ENDIAN) {
    yield new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    return;
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
    yield bytes;
  }
}

/** The bytes of a safetensors file holding `tensors` (the same bytes writeSafetensors writes to a file). */
export function safetensorsBytes(
  file: string,
  tensors: Record<string, TensorToWrite> | Map<string, TensorToWrite>,
  metadata?: Record<string, string>,
): Uint8Array {
  const layout = safetensorsLayout(file, tensors, metadata);
  const out = new Uint8Array(layout.size);
  out.set(layout.header, 0);
  let at = layout.header.length;
  for (const t of layout.order) {
    for (const chunk of tensorDataChunks(t)) {
      out.set(chunk, at);
      at += chunk.length;
    }
  }
  return out;
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
