/**
 * The safetensors format without the file system (shared by safetensors.ts, which reads files at offsets, and
 * safetensors-bytes.ts, which reads and writes a file held in memory, as the browser bundle does): the types, the
 * header's length prefix, and the header's parsing and checks (see safetensors.ts for the rules).
 */
import { LoratuneError } from "../errors.ts";
import type { WeightData } from "../tensor/formats/index.ts";
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
export const DTYPE_BITS = new Map<string, number>([
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

export function headerError(file: string, what: string): LoratuneError {
  return new LoratuneError("ERR_SAFETENSORS_HEADER", `${file}: invalid safetensors header: ${what}`);
}

export function tensorError(file: string, name: string, what: string): LoratuneError {
  return new LoratuneError("ERR_SAFETENSORS_TENSOR", `${file}: tensor "${shortName(name)}": ${what}`);
}

/** A tensor name as shown in messages: names come from the file and may be megabytes long. */
export function shortName(name: string): string {
  return name.length > 200 ? `${name.slice(0, 199)}…` : name;
}

/** The header length from the file's first 8 bytes (`prefix`, fewer when the file is shorter), checked. */
export function headerLength(file: string, prefix: Uint8Array, fileSize: number): number {
  if (fileSize < 8) throw headerError(file, `the file has ${fileSize} bytes, fewer than the 8-byte header length`);
  const n = new DataView(prefix.buffer, prefix.byteOffset, 8).getBigUint64(0, true);
  if (n > BigInt(MAX_HEADER_BYTES))
    throw headerError(file, `header length ${n} exceeds the ${MAX_HEADER_BYTES}-byte limit`);
  const length = Number(n);
  if (8 + length > fileSize) {
    throw headerError(file, `header length ${length} goes past the end of the ${fileSize}-byte file`);
  }
  return length;
}

/** The header's bytes as text (strict UTF-8). */
export function headerText(file: string, bytes: Uint8Array): string {
  try {
    return new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }).decode(bytes);
  } catch {
    throw headerError(file, "header is not valid UTF-8");
  }
}

/**
 * The header's JSON text parsed and validated (see safetensors.ts's header): `dataStart` = 8 + header length,
 * `fileSize` the whole file's bytes. `file` names the file in errors.
 */
export function parseSafetensorsHeader(
  file: string,
  text: string,
  dataStart: number,
  fileSize: number,
): SafetensorsFile {
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

export function ioError(message: string, cause?: unknown): LoratuneError {
  return new LoratuneError("ERR_IO", message, { cause });
}
