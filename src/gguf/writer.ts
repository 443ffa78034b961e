/**
 * Writing a GGUF v3 file, streaming: the header (metadata, then every tensor's info with its offset) is laid out
 * first from the tensors' names, shapes and types alone; then each tensor's bytes are produced and written in
 * turn, so only one tensor's converted data is in memory at a time. The file is written under a temporary name
 * and renamed into place (io/atomic.ts).
 *
 * Layout: "GGUF", version u32 = 3, tensor count u64, metadata count u64, the metadata, the tensor infos (name,
 * dimension count u32, dimensions u64 innermost first, ggml type u32, offset u64 from the start of the data), zero
 * padding to the alignment, then the tensors, each starting at a multiple of the alignment.
 */
import { writeSync } from "node:fs";
import { writeAtomicWith } from "../io/atomic.ts";
import { ByteEncoder } from "./encoder.ts";
import { ggmlBytes, ggmlTypeOf } from "./ggml-types.ts";
import type { GgufMetadata } from "./metadata.ts";

export const GGUF_MAGIC = "GGUF";
export const GGUF_VERSION = 3;
/** general.alignment when the metadata does not set it. */
export const GGUF_DEFAULT_ALIGNMENT = 32;

/** One tensor to write. */
export interface GgufTensorOut {
  name: string;
  /** Shape outermost first (PyTorch order); the file stores it reversed (ne[0] = the innermost dimension). */
  shape: number[];
  /** ggml type id. */
  type: number;
  /** Its bytes, row-major, produced when its turn comes (called once, in list order). */
  data(): Uint8Array;
}

/** The alignment the metadata asks for (general.alignment), else 32. */
export function alignmentOf(meta: GgufMetadata): number {
  const v = meta.get("general.alignment");
  return v !== undefined && v.type === "u32" && typeof v.value === "number" ? v.value : GGUF_DEFAULT_ALIGNMENT;
}

const roundUp = (n: number, a: number) => Math.ceil(n / a) * a;

/** Byte size of each tensor, checking that its rows are whole blocks of its type. */
function tensorBytes(t: GgufTensorOut): number {
  const type = ggmlTypeOf(t.type);
  const row = t.shape.at(-1) ?? 1;
  if (row % type.blockValues !== 0) {
    throw new Error(`GGUF tensor ${t.name}: rows of ${row} values are not whole ${type.name} blocks`);
  }
  return ggmlBytes(
    type,
    t.shape.reduce((a, b) => a * b, 1),
  );
}

/** The header bytes (through the padding before the data) and each tensor's byte size. */
export function encodeHeader(meta: GgufMetadata, tensors: GgufTensorOut[]): { header: Uint8Array; sizes: number[] } {
  const alignment = alignmentOf(meta);
  const e = new ByteEncoder();
  e.raw(new TextEncoder().encode(GGUF_MAGIC));
  e.u32(GGUF_VERSION);
  e.u64(tensors.length);
  e.u64(meta.size);
  for (const [key, value] of meta) e.keyValue(key, value);
  const sizes: number[] = [];
  let offset = 0;
  for (const t of tensors) {
    const size = tensorBytes(t);
    e.string(t.name);
    e.u32(t.shape.length);
    for (let i = t.shape.length - 1; i >= 0; i--) e.u64(t.shape[i]!);
    e.u32(t.type);
    e.u64(offset);
    sizes.push(size);
    offset += roundUp(size, alignment);
  }
  e.pad(alignment);
  return { header: e.bytes().slice(), sizes };
}

function writeAll(fd: number, bytes: Uint8Array): void {
  let off = 0;
  while (off < bytes.length) off += writeSync(fd, bytes, off, Math.min(bytes.length - off, 1 << 30));
}

/** Writes `path` atomically: metadata, tensor infos, then each tensor's data as `data()` produces it. */
export function writeGguf(path: string, meta: GgufMetadata, tensors: GgufTensorOut[]): void {
  const names = new Set<string>();
  for (const t of tensors) {
    if (names.has(t.name)) throw new Error(`GGUF tensor ${t.name} is listed twice`);
    names.add(t.name);
  }
  const alignment = alignmentOf(meta);
  const { header, sizes } = encodeHeader(meta, tensors);
  const zeros = new Uint8Array(alignment);
  writeAtomicWith(path, (fd) => {
    writeAll(fd, header);
    tensors.forEach((t, i) => {
      const bytes = t.data();
      if (bytes.length !== sizes[i]) {
        throw new Error(`GGUF tensor ${t.name}: produced ${bytes.length} bytes, its shape and type take ${sizes[i]}`);
      }
      writeAll(fd, bytes);
      const pad = roundUp(bytes.length, alignment) - bytes.length;
      if (pad > 0) writeAll(fd, zeros.subarray(0, pad));
    });
  });
}
