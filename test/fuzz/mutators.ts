/**
 * Seeded mutators for fuzzing the file loaders. Each takes a valid input and returns a corrupted copy
 * (never mutating its argument), drawing every choice from an Rng so a case is reproducible from its seed.
 *
 * Three families:
 *   bytes      truncation, bit flips, interesting bytes, insertions/deletions, repeated chunks, huge integers
 *              written over random offsets, invalid UTF-8 sequences
 *   JSON       a value somewhere in a parsed document replaced by an awkward one (wrong type, huge or negative
 *              number, deep nesting, long string, lone surrogate), a key removed, renamed or duplicated
 *   safetensors the length prefix, dtypes, shapes and data_offsets of the header, and NaN/inf in the data
 */
import { Rng } from "../../src/tensor/rng.ts";

export type Mutator = (rng: Rng, input: Uint8Array) => Uint8Array;

/** Largest output a mutator makes (inputs are small; this keeps a case's work bounded). */
const MAX_OUT = 1 << 20;

/** Uniform integer in [lo, hi]. */
export function between(rng: Rng, lo: number, hi: number): number {
  return lo + rng.nextInt(hi - lo + 1);
}

export function pick<T>(rng: Rng, items: readonly T[]): T {
  return items[rng.nextInt(items.length)] as T;
}

/** A derived seed for case `i` of a run with seed `seed` (independent streams per case). */
export function caseSeed(seed: number, i: number): number {
  return new Rng(seed * 1_000_003 + i).nextU32();
}

// ---------------------------------------------------------------------------------------------------------
// Byte-level mutators

const INTERESTING_BYTES = [0x00, 0x01, 0x7f, 0x80, 0xff, 0x22, 0x7b, 0x7d, 0x5b, 0x5d, 0x2c, 0x3a, 0x0a, 0x5c, 0x2d];
/** Invalid or tricky UTF-8: lone continuation, truncated sequences, overlong, surrogates, > U+10FFFF, BOM. */
const BAD_UTF8: readonly number[][] = [
  [0x80],
  [0xc3],
  [0xc3, 0x28],
  [0xe2, 0x82],
  [0xc0, 0xaf],
  [0xed, 0xa0, 0x80],
  [0xf4, 0x90, 0x80, 0x80],
  [0xf5, 0x80, 0x80, 0x80],
  [0xff, 0xfe],
  [0xef, 0xbb, 0xbf],
];
/** Little-endian integers that stress length and offset checks. */
const HUGE_INTEGERS: readonly bigint[] = [
  0n,
  1n,
  7n,
  0x7fffffffn,
  0x80000000n,
  0xffffffffn,
  0x100000000n,
  2n ** 53n - 1n,
  2n ** 53n,
  2n ** 63n - 1n,
  2n ** 64n - 1n,
  100_000_001n,
];

function truncate(rng: Rng, b: Uint8Array): Uint8Array {
  return b.slice(0, b.length === 0 ? 0 : rng.nextInt(b.length));
}

function bitFlips(rng: Rng, b: Uint8Array): Uint8Array {
  const out = b.slice();
  const n = between(rng, 1, 8);
  for (let i = 0; i < n && out.length > 0; i++) out[rng.nextInt(out.length)]! ^= 1 << rng.nextInt(8);
  return out;
}

function setBytes(rng: Rng, b: Uint8Array): Uint8Array {
  const out = b.slice();
  const n = between(rng, 1, 4);
  for (let i = 0; i < n && out.length > 0; i++) out[rng.nextInt(out.length)] = pick(rng, INTERESTING_BYTES);
  return out;
}

function insertBytes(rng: Rng, b: Uint8Array, bytes: readonly number[]): Uint8Array {
  const at = rng.nextInt(b.length + 1);
  const out = new Uint8Array(b.length + bytes.length);
  out.set(b.subarray(0, at), 0);
  out.set(bytes, at);
  out.set(b.subarray(at), at + bytes.length);
  return out;
}

function insertRandom(rng: Rng, b: Uint8Array): Uint8Array {
  const bytes = Array.from({ length: between(rng, 1, 16) }, () => rng.nextInt(256));
  return insertBytes(rng, b, bytes);
}

function insertBadUtf8(rng: Rng, b: Uint8Array): Uint8Array {
  return insertBytes(rng, b, pick(rng, BAD_UTF8));
}

function deleteRange(rng: Rng, b: Uint8Array): Uint8Array {
  if (b.length === 0) return b.slice();
  const at = rng.nextInt(b.length);
  const n = between(rng, 1, Math.min(64, b.length - at));
  const out = new Uint8Array(b.length - n);
  out.set(b.subarray(0, at), 0);
  out.set(b.subarray(at + n), at);
  return out;
}

/** A chunk of the input repeated many times in place (long lines, long arrays, big headers). */
function repeatChunk(rng: Rng, b: Uint8Array): Uint8Array {
  if (b.length === 0) return b.slice();
  const at = rng.nextInt(b.length);
  const len = between(rng, 1, Math.min(256, b.length - at));
  const times = Math.min(pick(rng, [2, 10, 100, 1000, 20000]), Math.floor(MAX_OUT / len));
  const out = new Uint8Array(b.length + len * times);
  out.set(b.subarray(0, at + len), 0);
  for (let k = 1; k <= times; k++) out.set(b.subarray(at, at + len), at + len * k);
  out.set(b.subarray(at + len), at + len * (times + 1));
  return out;
}

/** A huge little-endian u32 or u64 written over a random offset. */
function hugeInteger(rng: Rng, b: Uint8Array): Uint8Array {
  const out = b.slice();
  const width = rng.nextInt(2) === 0 ? 4 : 8;
  if (out.length < width) return out;
  const at = rng.nextInt(out.length - width + 1);
  let v = pick(rng, HUGE_INTEGERS);
  for (let i = 0; i < width; i++, v >>= 8n) out[at + i] = Number(v & 0xffn);
  return out;
}

export const BYTE_MUTATORS: readonly Mutator[] = [
  truncate,
  bitFlips,
  bitFlips,
  setBytes,
  insertRandom,
  insertBadUtf8,
  deleteRange,
  repeatChunk,
  hugeInteger,
];

// ---------------------------------------------------------------------------------------------------------
// JSON-level mutators

/** JSON texts of awkward values (as text, so deep nesting needs no recursion to build). */
function awkwardJson(rng: Rng): string {
  switch (rng.nextInt(16)) {
    case 0:
      return "null";
    case 1:
      return pick(rng, ["true", "false"]);
    case 2:
      return pick(rng, ["0", "-1", "-100", "0.5", "-0", "1e-320"]);
    case 3:
      return pick(rng, ["1e308", "1e400", "-1e400", "9007199254740993", "4294967296", "2147483648"]);
    case 4:
      return pick(rng, ["1000000000", "100000000000", "65536", "1e9"]);
    case 5:
      return pick(rng, ['""', '"\\u0000"', '"\\ud800"', '"NaN"', '"Infinity"', '"F32"', '"I64"', '"zz"']);
    case 6:
      return JSON.stringify("x".repeat(pick(rng, [1000, 100_000])));
    case 7:
      return pick(rng, ["[]", "{}", "[[]]", '{"":null}']);
    case 8: {
      const depth = pick(rng, [100, 10_000, 200_000]);
      return `${"[".repeat(depth)}${"]".repeat(depth)}`;
    }
    case 9: {
      const depth = pick(rng, [100, 10_000]);
      return `${'{"a":'.repeat(depth)}1${"}".repeat(depth)}`;
    }
    case 10:
      return `[${Array.from({ length: between(rng, 1, 4) }, () => pick(rng, ["1", "-1", "1e12", "0.5", "null"])).join(",")}]`;
    case 11:
      return `[${new Array(pick(rng, [1000, 100_000])).fill("7").join(",")}]`;
    case 12:
      return pick(rng, ["NaN", "Infinity", "-Infinity", "undefined"]); // not JSON: the parse must fail cleanly
    default:
      return pick(rng, ["1", "2", "8", "16", "3", "[1,2]", '"q_proj"', '"LORA"', '"llama"']);
  }
}

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

/** Every path (key/index list) to a value in the document, root excluded; bounded walk. */
function paths(doc: Json, limit = 20_000, maxDepth = 32): (string | number)[][] {
  const out: (string | number)[][] = [];
  const stack: [Json, (string | number)[]][] = [[doc, []]];
  while (stack.length > 0 && out.length < limit) {
    const [v, p] = stack.pop()!;
    if (p.length > 0) out.push(p);
    if (p.length >= maxDepth) continue;
    if (Array.isArray(v)) {
      for (let i = 0; i < v.length; i++) stack.push([v[i]!, [...p, i]]);
    } else if (v !== null && typeof v === "object") {
      for (const [k, x] of Object.entries(v)) stack.push([x, [...p, k]]);
    }
  }
  return out;
}

/**
 * Rewrites the document text with the value at a random path replaced by `replacement` (JSON text), the key
 * removed, renamed, or doubled. Serializes by hand around the replacement so it can be any text.
 */
function mutateJsonText(rng: Rng, text: string): string | null {
  try {
    return mutateJsonDoc(rng, JSON.parse(text) as Json);
  } catch {
    return null; // not JSON (an earlier mutation broke it), or too deep to serialize: callers fall back
  }
}

function mutateJsonDoc(rng: Rng, doc: Json): string {
  const all = paths(doc);
  if (all.length === 0) return awkwardJson(rng);
  const target = pick(rng, all);
  const op = rng.nextInt(6);
  const marker = `@@FUZZ${rng.nextU32()}@@`;
  const parentPath = target.slice(0, -1);
  const last = target[target.length - 1]!;
  let parent: Json = doc;
  for (const k of parentPath) parent = (parent as Record<string | number, Json>)[k] as Json;
  if (op === 4 && typeof last === "string" && parent !== null && typeof parent === "object") {
    const obj = parent as Record<string, Json>;
    delete obj[last];
    return JSON.stringify(doc);
  }
  if (op === 5 && typeof last === "string" && parent !== null && typeof parent === "object") {
    const obj = parent as Record<string, Json>;
    const value = obj[last]!;
    delete obj[last];
    const key = pick(rng, [`${last}_`, last.toUpperCase(), "", "__proto__", "constructor"]);
    Object.defineProperty(obj, key, { value, enumerable: true, writable: true, configurable: true });
    return JSON.stringify(doc);
  }
  (parent as Record<string | number, Json>)[last] = marker;
  const replacement = op === 3 ? siblingValue(rng, doc, all) : awkwardJson(rng);
  return JSON.stringify(doc).replace(`"${marker}"`, () => replacement);
}

/** The JSON text of another value of the same document (right type, wrong place). */
function siblingValue(rng: Rng, doc: Json, all: (string | number)[][]): string {
  let v: Json = doc;
  for (const k of pick(rng, all)) v = (v as Record<string | number, Json>)[k] as Json;
  const s = JSON.stringify(v);
  return s.length > MAX_OUT ? "null" : s;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export function jsonMutator(rng: Rng, input: Uint8Array): Uint8Array {
  const out = mutateJsonText(rng, decoder.decode(input));
  return out === null ? bitFlips(rng, input) : encoder.encode(out);
}

/** JSONL: one line's JSON mutated, or a line added, removed, duplicated or replaced by awkward text. */
export function jsonlMutator(rng: Rng, input: Uint8Array): Uint8Array {
  const lines = decoder.decode(input).split("\n");
  const i = rng.nextInt(lines.length);
  switch (rng.nextInt(5)) {
    case 0:
      lines.splice(i, 1);
      break;
    case 1:
      lines.splice(i, 0, lines[i] ?? "");
      break;
    case 2:
      lines.splice(i, 0, pick(rng, ["", "   ", "\r", awkwardJson(rng), "{", '{"text": 1}', '{"input_ids": []}']));
      break;
    default: {
      const m = mutateJsonText(rng, lines[i] ?? "");
      if (m !== null) lines[i] = m;
    }
  }
  return encoder.encode(lines.join("\n"));
}

// ---------------------------------------------------------------------------------------------------------
// safetensors-aware mutators

interface ParsedSafetensors {
  header: Record<string, unknown>;
  data: Uint8Array;
}

function parseSafetensors(b: Uint8Array): ParsedSafetensors | null {
  if (b.length < 8) return null;
  const n = Number(new DataView(b.buffer, b.byteOffset, 8).getBigUint64(0, true));
  if (8 + n > b.length) return null;
  try {
    const header = JSON.parse(decoder.decode(b.subarray(8, 8 + n))) as Record<string, unknown>;
    return { header, data: b.subarray(8 + n) };
  } catch {
    return null;
  }
}

/** Header text + data; `lengthDelta` makes the length prefix disagree with the header. */
function assemble(headerText: string, data: Uint8Array, lengthDelta = 0n): Uint8Array {
  const h = encoder.encode(headerText);
  const out = new Uint8Array(8 + h.length + data.length);
  const len = BigInt(h.length) + lengthDelta;
  new DataView(out.buffer).setBigUint64(0, len < 0n ? 0n : len & (2n ** 64n - 1n), true);
  out.set(h, 8);
  out.set(data, 8 + h.length);
  return out;
}

const DTYPES = ["F32", "F16", "BF16", "I64", "U8", "BOOL", "F64", "F8_E4M3", "F4", "f32", "F32 ", "", "C64"];

/** One entry of the header changed (dtype, shape, offsets) or the length prefix made inconsistent. */
export function safetensorsMutator(rng: Rng, input: Uint8Array): Uint8Array {
  const parsed = parseSafetensors(input);
  if (parsed === null) return bitFlips(rng, input);
  const { header, data } = parsed;
  const names = Object.keys(header).filter((k) => k !== "__metadata__");
  const name = names.length > 0 ? pick(rng, names) : "__metadata__";
  const entry = (header[name] ?? {}) as Record<string, unknown>;
  const shape = Array.isArray(entry.shape) ? (entry.shape as unknown[]) : [];
  const offsets = Array.isArray(entry.data_offsets) ? (entry.data_offsets as unknown[]) : [0, 0];
  switch (rng.nextInt(10)) {
    case 0:
      entry.dtype = pick(rng, DTYPES);
      break;
    case 1:
      entry.shape = [...shape, pick(rng, [0, 1, 2, 2 ** 31, 2 ** 53 - 1])];
      break;
    case 2:
      if (shape.length > 0) shape[rng.nextInt(shape.length)] = pick(rng, [-1, 0, 0.5, 2 ** 40, 2 ** 53, "4", null]);
      break;
    case 3:
      entry.shape = shape.slice(1);
      break;
    case 4:
      offsets[rng.nextInt(2)] = pick(rng, [-1, 0, 1, 2 ** 32, 2 ** 53, 1.5, "0"]);
      entry.data_offsets = offsets;
      break;
    case 5: {
      const shift = pick(rng, [-4, -2, -1, 1, 2, 4]);
      entry.data_offsets = offsets.map((o) => (typeof o === "number" ? o + shift : o));
      break;
    }
    case 6: {
      const text = mutateJsonText(rng, JSON.stringify(header));
      return assemble(text ?? "{", data);
    }
    case 7:
      return assemble(JSON.stringify(header), data, pick(rng, [-8n, -1n, 1n, 8n, 2n ** 32n, 2n ** 63n]));
    case 8:
      return assemble(JSON.stringify(header), pick(rng, [data.subarray(0, rng.nextInt(data.length + 1)), data]));
    default:
      return injectNonFinite(rng, input, 8 + (input.length - data.length - 8));
  }
  if (name !== "__metadata__") header[name] = entry;
  return assemble(JSON.stringify(header), data);
}

/** NaN / ±inf bit patterns (f32 and 16-bit) written over aligned positions of the data section. */
function injectNonFinite(rng: Rng, b: Uint8Array, dataStart: number): Uint8Array {
  const out = b.slice();
  const patterns = [
    [0x00, 0x00, 0xc0, 0x7f],
    [0x00, 0x00, 0x80, 0x7f],
    [0x00, 0x00, 0x80, 0xff],
    [0xc0, 0x7f],
    [0x00, 0x7c],
    [0x00, 0x7e],
  ];
  const n = between(rng, 1, 4);
  for (let i = 0; i < n; i++) {
    const p = pick(rng, patterns);
    const slots = Math.floor((out.length - dataStart) / p.length);
    if (slots <= 0) break;
    out.set(p, dataStart + rng.nextInt(slots) * p.length);
  }
  return out;
}

/** Applies 1–3 mutators from `family` in a row (stacked corruption). */
export function mutate(rng: Rng, input: Uint8Array, family: readonly Mutator[]): Uint8Array {
  let out = input;
  const rounds = pick(rng, [1, 1, 1, 2, 3]);
  for (let i = 0; i < rounds; i++) {
    const m = pick(rng, family);
    try {
      out = m(rng, out);
    } catch {
      out = bitFlips(rng, out); // a mutator choked on an earlier round's output (e.g. JSON too deep to rewrite)
    }
  }
  return out.length > MAX_OUT ? out.subarray(0, MAX_OUT) : out;
}
