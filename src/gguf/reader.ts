/**
 * Reading a GGUF file (v2 or v3, little-endian): the header is parsed and checked in full (metadata, tensor
 * infos, offsets against the file's length, no overlaps) before any tensor data is touched; data is then read
 * one tensor at a time on request. Every count and length in the header is bounded by the bytes the file has
 * left, so a corrupt or hostile header cannot drive a large allocation.
 */
import { closeSync, fstatSync, openSync, readSync } from "node:fs";
import { LoratuneError } from "../errors.ts";
import { formatById } from "../tensor/formats/index.ts";
import { FileCursor } from "./cursor.ts";
import { type GgmlType, ggmlBytes, ggmlType } from "./ggml-types.ts";
import {
  GGUF_VALUE_TYPES,
  type GgufMetadata,
  type GgufScalar,
  type GgufScalarType,
  type GgufValue,
  SCALAR_BYTES,
} from "./metadata.ts";
import { GGUF_DEFAULT_ALIGNMENT, GGUF_MAGIC } from "./writer.ts";

/** ggml allows at most four dimensions. */
const MAX_DIMS = 4;

export interface GgufTensorInfo {
  name: string;
  /** Shape outermost first (PyTorch order): the file's dimensions reversed. */
  shape: number[];
  type: GgmlType;
  /** Absolute byte offset of the data in the file. */
  offset: number;
  /** Bytes of data. */
  bytes: number;
}

export interface GgufFile {
  path: string;
  version: number;
  metadata: GgufMetadata;
  /** In file order. */
  tensors: GgufTensorInfo[];
  alignment: number;
  /** Absolute offset of the data section. */
  dataOffset: number;
  fileSize: number;
}

const BY_TYPE_ID = new Map<number, GgufScalarType | "array">(
  Object.entries(GGUF_VALUE_TYPES).map(([name, id]) => [id, name as GgufScalarType | "array"]),
);

/** Reads and validates the header of `path` (no tensor data). */
export function readGgufHeader(path: string): GgufFile {
  let fd: number;
  try {
    fd = openSync(path, "r");
  } catch (err) {
    throw new LoratuneError("ERR_IO", `${path}: cannot open GGUF file: ${(err as Error).message}`, { cause: err });
  }
  try {
    return parseHeader(new FileCursor(fd, path, fstatSync(fd).size));
  } finally {
    closeSync(fd);
  }
}

function parseHeader(c: FileCursor): GgufFile {
  const magic = String.fromCharCode(c.u8("the magic"), c.u8("the magic"), c.u8("the magic"), c.u8("the magic"));
  if (magic !== GGUF_MAGIC) throw c.fail(`the file starts with ${JSON.stringify(magic)}, not "GGUF"`);
  const version = c.u32("the version");
  if (version !== 2 && version !== 3) {
    throw c.fail(`version ${version} is not supported (2 or 3, little-endian)`);
  }
  // A tensor info takes at least 32 bytes (name length, one dimension, type, offset); a metadata entry 13.
  const tensorCount = c.count("the tensor count", Math.floor(c.left() / 32));
  const kvCount = c.count("the metadata count", Math.floor(c.left() / 13));
  const metadata: GgufMetadata = new Map();
  for (let i = 0; i < kvCount; i++) {
    const key = c.string(`metadata key ${i}`);
    if (metadata.has(key)) throw c.fail(`metadata key ${key} appears twice`);
    metadata.set(key, readValue(c, key));
  }
  const alignment = readAlignment(c, metadata);
  const infos = readTensorInfos(c, tensorCount);
  const dataOffset = Math.ceil(c.pos / alignment) * alignment;
  const tensors = placeTensors(c, infos, alignment, dataOffset);
  return { path: c.path, version, metadata, tensors, alignment, dataOffset, fileSize: c.size };
}

function readValue(c: FileCursor, key: string): GgufValue {
  const typeId = c.u32(`the type of ${key}`);
  const type = BY_TYPE_ID.get(typeId);
  if (type === undefined) throw c.fail(`metadata ${key} has unknown value type ${typeId}`);
  if (type !== "array") return { type, value: readScalar(c, type, key) };
  const ofId = c.u32(`the element type of ${key}`);
  const of = BY_TYPE_ID.get(ofId);
  if (of === undefined || of === "array") {
    throw c.fail(`metadata ${key} is an array of ${of === "array" ? "arrays" : `unknown type ${ofId}`}`);
  }
  const width = of === "string" ? 8 : SCALAR_BYTES[of];
  const n = c.count(`the length of ${key}`, Math.floor(c.left() / width));
  const value: GgufScalar[] = new Array(n);
  for (let i = 0; i < n; i++) value[i] = readScalar(c, of, key);
  return { type: "array", of, value };
}

function readScalar(c: FileCursor, type: GgufScalarType, key: string): GgufScalar {
  switch (type) {
    case "u8":
      return c.u8(key);
    case "i8":
      return c.i8(key);
    case "u16":
      return c.u16(key);
    case "i16":
      return c.i16(key);
    case "u32":
      return c.u32(key);
    case "i32":
      return c.i32(key);
    case "f32":
      return c.f32(key);
    case "f64":
      return c.f64(key);
    case "u64":
      return c.u64(key);
    case "i64":
      return c.i64(key);
    case "bool": {
      const b = c.u8(key);
      if (b > 1) throw c.fail(`metadata ${key}: boolean byte ${b}`);
      return b === 1;
    }
    case "string":
      return c.string(key);
  }
}

function readAlignment(c: FileCursor, meta: GgufMetadata): number {
  const v = meta.get("general.alignment");
  if (v === undefined) return GGUF_DEFAULT_ALIGNMENT;
  const a = v.type === "u32" ? (v.value as number) : 0;
  if (a === 0 || (a & (a - 1)) !== 0) throw c.fail("general.alignment must be a u32 power of two");
  return a;
}

interface RawInfo {
  name: string;
  shape: number[];
  type: GgmlType;
  relOffset: number;
  bytes: number;
}

function readTensorInfos(c: FileCursor, count: number): RawInfo[] {
  const out: RawInfo[] = [];
  const names = new Set<string>();
  for (let i = 0; i < count; i++) {
    const name = c.string(`the name of tensor ${i}`);
    if (names.has(name)) throw c.fail(`tensor ${name} appears twice`);
    names.add(name);
    const nDims = c.u32(`the dimension count of ${name}`);
    if (nDims < 1 || nDims > MAX_DIMS) throw c.fail(`tensor ${name} has ${nDims} dimensions (1 to ${MAX_DIMS})`);
    const dims: number[] = [];
    let values = 1;
    for (let d = 0; d < nDims; d++) {
      const size = c.count(`dimension ${d} of ${name}`, c.size);
      if (size < 1) throw c.fail(`tensor ${name} has a dimension of size 0`);
      values *= size;
      if (values > c.size * 8) throw c.fail(`tensor ${name} has more values than the file can hold`);
      dims.push(size);
    }
    const typeId = c.u32(`the type of ${name}`);
    const type = ggmlType(typeId);
    if (type === undefined) throw c.fail(`tensor ${name} has unknown ggml type ${typeId}`);
    if (dims[0]! % type.blockValues !== 0) {
      throw c.fail(`tensor ${name}: rows of ${dims[0]} values are not whole ${type.name} blocks`);
    }
    const relOffset = c.count(`the offset of ${name}`, c.size);
    out.push({ name, shape: dims.reverse(), type, relOffset, bytes: ggmlBytes(type, values) });
  }
  return out;
}

/** Absolute offsets, each aligned, inside the file, and no two tensors overlapping. */
function placeTensors(c: FileCursor, infos: RawInfo[], alignment: number, dataOffset: number): GgufTensorInfo[] {
  const tensors = infos.map((t) => {
    if (t.relOffset % alignment !== 0) throw c.fail(`tensor ${t.name}: offset ${t.relOffset} is not aligned`);
    const offset = dataOffset + t.relOffset;
    if (offset + t.bytes > c.size) {
      throw c.fail(`tensor ${t.name}: its ${t.bytes} bytes at ${offset} run past the end of the file (${c.size})`);
    }
    return { name: t.name, shape: t.shape, type: t.type, offset, bytes: t.bytes };
  });
  const sorted = [...tensors].sort((a, b) => a.offset - b.offset);
  for (let i = 1; i < sorted.length; i++) {
    const prev = sorted[i - 1]!;
    if (prev.offset + prev.bytes > sorted[i]!.offset) {
      throw c.fail(`tensors ${prev.name} and ${sorted[i]!.name} overlap`);
    }
  }
  return tensors;
}

/** The raw bytes of one tensor. */
export function readGgufTensorBytes(file: GgufFile, info: GgufTensorInfo): Uint8Array {
  const out = new Uint8Array(info.bytes);
  readGgufTensorInto(file, info, out);
  return out;
}

/** Reads one tensor's raw bytes into `out` (exactly info.bytes long), e.g. the bytes of a weight's own storage. */
export function readGgufTensorInto(file: GgufFile, info: GgufTensorInfo, out: Uint8Array): void {
  if (out.length !== info.bytes) throw new Error(`${info.name}: ${out.length} bytes given for ${info.bytes}`);
  const fd = openSync(file.path, "r");
  try {
    let done = 0;
    while (done < out.length) {
      const n = readSync(fd, out, done, Math.min(out.length - done, 1 << 30), info.offset + done);
      if (n === 0) throw new LoratuneError("ERR_GGUF", `${file.path}: the file ends inside tensor ${info.name}`);
      done += n;
    }
  } finally {
    closeSync(fd);
  }
}

/** One tensor's values as f32, widened through the weight-format registry (its format's id is the ggml type). */
export function readGgufTensorF32(file: GgufFile, info: GgufTensorInfo): Float32Array {
  const format = formatById(info.type.id);
  if (format === undefined) {
    throw new LoratuneError(
      "ERR_UNSUPPORTED",
      `${file.path}: tensor ${info.name} is ${info.type.name}, a type loratune cannot read yet`,
    );
  }
  const bytes = readGgufTensorBytes(file, info);
  const n = info.shape.reduce((a, b) => a * b, 1);
  const data = format.alloc(n);
  new Uint8Array(data.buffer, data.byteOffset, bytes.length).set(bytes);
  const out = new Float32Array(n);
  format.toF32(out, data, 0, n);
  return out;
}

/** The info of tensor `name`, or undefined. */
export function ggufTensor(file: GgufFile, name: string): GgufTensorInfo | undefined {
  return file.tensors.find((t) => t.name === name);
}
