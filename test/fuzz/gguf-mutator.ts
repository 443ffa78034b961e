/**
 * A GGUF-aware mutator for the fuzzer: a model file is parsed into its metadata, tensor infos and data section
 * (recording where every count, length, type id, dimension and offset sits), then corrupted in one of two ways:
 *  - a lie written over one recorded field (a count, string or array length, value or element type, dimension
 *    count, dimension, ggml type, offset) or a cut at a field's position, the rest of the file unchanged;
 *  - an edit of the parsed file re-encoded whole: a metadata value replaced by an awkward one (another type, an
 *    extreme number, an id out of range, an unknown pre-tokenizer, a broken chat template), the tokenizer arrays
 *    (tokens, token types, merges, scores) shortened, lengthened or given odd entries, a key removed or
 *    duplicated, a tensor info renamed, dropped, duplicated, reshaped, retyped or moved, or a rope_freqs tensor
 *    added with odd factors.
 * A file it cannot parse gets the byte mutators instead.
 */
import { ByteEncoder } from "../../src/gguf/encoder.ts";
import { GGUF_VALUE_TYPES, type GgufScalar, type GgufScalarType, type GgufValue } from "../../src/gguf/metadata.ts";
import type { Rng } from "../../src/tensor/rng.ts";
import { BYTE_MUTATORS, between, type Mutator, pick } from "./mutators.ts";

interface Field {
  pos: number;
  width: 4 | 8;
  kind: "count" | "strlen" | "vtype" | "atype" | "alen" | "ndims" | "dim" | "ggml" | "offset";
}

interface Info {
  name: string;
  /** Dimensions in file order (innermost first). */
  dims: bigint[];
  type: number;
  offset: bigint;
}

interface Parsed {
  version: number;
  kvs: [string, GgufValue][];
  infos: Info[];
  alignment: number;
  /** The bytes from the (aligned) start of the data section on. */
  data: Uint8Array;
  fields: Field[];
}

const TYPE_BY_ID = new Map<number, GgufScalarType | "array">(
  Object.entries(GGUF_VALUE_TYPES).map(([k, v]) => [v, k as GgufScalarType | "array"]),
);
const utf8 = new TextDecoder("utf-8", { fatal: true });

/** The file's structure, or null when it is not a well-formed GGUF file. */
function parse(b: Uint8Array): Parsed | null {
  const view = new DataView(b.buffer, b.byteOffset, b.byteLength);
  let pos = 0;
  const fields: Field[] = [];
  const need = (n: number) => {
    if (pos + n > b.length) throw new Error("short");
  };
  const u32 = (kind?: Field["kind"]) => {
    need(4);
    if (kind) fields.push({ pos, width: 4, kind });
    pos += 4;
    return view.getUint32(pos - 4, true);
  };
  const u64 = (kind?: Field["kind"]) => {
    need(8);
    if (kind) fields.push({ pos, width: 8, kind });
    pos += 8;
    return view.getBigUint64(pos - 8, true);
  };
  const small = (v: bigint) => {
    if (v > BigInt(b.length)) throw new Error("long");
    return Number(v);
  };
  const str = () => {
    const n = small(u64("strlen"));
    need(n);
    pos += n;
    return utf8.decode(b.subarray(pos - n, pos));
  };
  const scalar = (t: GgufScalarType): GgufScalar => {
    const width = { u8: 1, i8: 1, u16: 2, i16: 2, u32: 4, i32: 4, f32: 4, bool: 1, u64: 8, i64: 8, f64: 8 };
    if (t === "string") return str();
    need(width[t]);
    pos += width[t];
    const at = pos - width[t];
    const get = {
      u8: () => view.getUint8(at),
      i8: () => view.getInt8(at),
      u16: () => view.getUint16(at, true),
      i16: () => view.getInt16(at, true),
      u32: () => view.getUint32(at, true),
      i32: () => view.getInt32(at, true),
      f32: () => view.getFloat32(at, true),
      f64: () => view.getFloat64(at, true),
      bool: () => view.getUint8(at) === 1,
      u64: () => view.getBigUint64(at, true),
      i64: () => view.getBigInt64(at, true),
    };
    return get[t]();
  };
  try {
    if (String.fromCharCode(...b.subarray(0, 4)) !== "GGUF") return null;
    pos = 4;
    const version = u32();
    const nTensors = small(u64("count"));
    const nKv = small(u64("count"));
    const kvs: [string, GgufValue][] = [];
    for (let i = 0; i < nKv; i++) {
      const key = str();
      const type = TYPE_BY_ID.get(u32("vtype"));
      if (type === undefined) return null;
      if (type !== "array") {
        kvs.push([key, { type, value: scalar(type) }]);
        continue;
      }
      const of = TYPE_BY_ID.get(u32("atype"));
      if (of === undefined || of === "array") return null;
      const n = small(u64("alen"));
      const value: GgufScalar[] = [];
      for (let j = 0; j < n; j++) value.push(scalar(of));
      kvs.push([key, { type: "array", of, value }]);
    }
    const infos: Info[] = [];
    for (let i = 0; i < nTensors; i++) {
      const name = str();
      const nd = u32("ndims");
      if (nd > 4) return null;
      const dims: bigint[] = [];
      for (let d = 0; d < nd; d++) dims.push(u64("dim"));
      infos.push({ name, dims, type: u32("ggml"), offset: u64("offset") });
    }
    const al = kvs.find(([k]) => k === "general.alignment")?.[1];
    const alignment = al?.type === "u32" ? (al.value as number) : 32;
    if (alignment === 0 || (alignment & (alignment - 1)) !== 0) return null;
    const dataStart = Math.ceil(pos / alignment) * alignment;
    return { version, kvs, infos, alignment, data: b.subarray(Math.min(dataStart, b.length)), fields };
  } catch {
    return null;
  }
}

/** Re-encodes a (possibly edited) structure: header, padding to the alignment, the data section as it was. */
function encode(p: Parsed): Uint8Array {
  const e = new ByteEncoder();
  e.raw(new TextEncoder().encode("GGUF"));
  e.u32(p.version);
  e.u64(p.infos.length);
  e.u64(p.kvs.length);
  for (const [k, v] of p.kvs) e.keyValue(k, v);
  for (const t of p.infos) {
    e.string(t.name);
    e.u32(t.dims.length);
    for (const d of t.dims) e.u64(d);
    e.u32(t.type);
    e.u64(t.offset);
  }
  e.pad(p.alignment);
  const out = new Uint8Array(e.length + p.data.length);
  out.set(e.bytes());
  out.set(p.data, e.length);
  return out;
}

const U64_LIES = [
  0n,
  1n,
  2n,
  3n,
  255n,
  2n ** 31n,
  2n ** 32n - 1n,
  2n ** 32n,
  2n ** 53n + 1n,
  2n ** 63n,
  2n ** 64n - 1n,
];
const U32_LIES = [0, 1, 2, 4, 5, 7, 9, 12, 13, 14, 16, 29, 30, 31, 39, 255, 2 ** 31, 2 ** 32 - 1];

/** A lie over one recorded field, or the file cut at one. */
function fieldLie(rng: Rng, b: Uint8Array, p: Parsed): Uint8Array {
  if (p.fields.length === 0) return b.slice();
  const f = pick(rng, p.fields);
  if (rng.nextInt(6) === 0) return b.slice(0, Math.max(0, f.pos + between(rng, -2, f.width + 2)));
  const out = b.slice();
  const view = new DataView(out.buffer);
  const old = f.width === 8 ? view.getBigUint64(f.pos, true) : BigInt(view.getUint32(f.pos, true));
  const choices =
    f.width === 8 ? [...U64_LIES, old + 1n, old - 1n, old * 2n, old + 32n] : [...U32_LIES.map(BigInt), old + 1n];
  const v = pick(rng, choices);
  if (f.width === 8) view.setBigUint64(f.pos, BigInt.asUintN(64, v), true);
  else view.setUint32(f.pos, Number(BigInt.asUintN(32, v)), true);
  return out;
}

const PRE_NAMES = ["default", "gpt-2", "llama-bpe", "qwen2", "smollm", "dbrx", "", "LLAMA-BPE", "no-such-pre", "gpt2"];
const MODELS = ["gpt2", "llama", "bert", "t5", "", "rwkv", "LLAMA"];
const ARCHS = ["llama", "qwen2", "qwen3", "mistral", "gpt2", "phi3", "", "Llama"];
/** Broken or odd chat templates (not loops of 10^8 steps: rendering has no step limit; see the fuzz report). */
const TEMPLATES = [
  "{% for m in messages %}{{ m['content'] }}{% endfor %}",
  "{% for m in messages %}",
  "{{ raise_exception('no') }}",
  "{{ messages[99]['content'] }}",
  "",
  "{{".repeat(1000),
];

/** An awkward value for a key, of any type. */
function awkwardValue(rng: Rng, old: GgufValue): GgufValue {
  const n = old.type === "array" ? old.value.length : 1;
  switch (rng.nextInt(12)) {
    case 0:
      return { type: "u32", value: pick(rng, [0, 1, 2, n, n - 1, n + 1, 2 ** 31, 2 ** 32 - 1]) };
    case 1:
      return { type: "i32", value: pick(rng, [-1, -(2 ** 31), 0, n]) };
    case 2:
      return { type: "u64", value: pick(rng, [0n, BigInt(n), 2n ** 53n, 2n ** 63n, 2n ** 64n - 1n]) };
    case 3:
      return { type: "i64", value: pick(rng, [-1n, -(2n ** 63n), 2n ** 62n]) };
    case 4:
      return { type: "f32", value: pick(rng, [0, -1, 0.5, 1e30, Number.NaN, Number.POSITIVE_INFINITY, 1e-45]) };
    case 5:
      return { type: "f64", value: pick(rng, [1.5, Number.NaN, -0, 1e300]) };
    case 6:
      return { type: "bool", value: rng.nextInt(2) === 0 };
    case 7:
      return { type: "string", value: pick(rng, ["", "x", "\u0000", "é".repeat(100), ...PRE_NAMES]) };
    case 8:
      return { type: "u8", value: pick(rng, [0, 1, 255]) };
    case 9:
      return { type: "array", of: "string", value: pick(rng, [[], ["a"], ["", ""], ["a b", "a b"]]) };
    case 10:
      return { type: "array", of: "i32", value: pick(rng, [[], [-1], [0, 1, 2], Array(n).fill(2 ** 31 - 1)]) };
    default:
      return { type: "array", of: "f32", value: [Number.NaN, 1e30, -1] };
  }
}

/** A tokenizer array shortened, lengthened, or given odd entries. */
function tokenizerArray(rng: Rng, v: GgufValue): GgufValue {
  if (v.type !== "array") return v;
  const value = [...v.value];
  const at = value.length === 0 ? 0 : rng.nextInt(value.length);
  const odd: Record<string, GgufScalar[]> = {
    string: ["", " ", "a", "a b", " b", "a  b", "\u0000", "<0xZZ>", "<0x41>", "▁", "x".repeat(5000), "a b c"],
    i32: [-1, 0, 1, 2, 3, 4, 5, 6, 7, 99, -(2 ** 31), 2 ** 31 - 1],
    f32: [Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, -1e30, 1e30, 0],
  };
  const pool = odd[v.of] ?? [0];
  switch (rng.nextInt(6)) {
    case 0:
      value.length = rng.nextInt(value.length + 1);
      break;
    case 1:
      value.splice(at, 1);
      break;
    case 2:
      value.push(...Array.from({ length: between(rng, 1, 3) }, () => pick(rng, pool)));
      break;
    case 3:
      if (value.length > 0) value.splice(at, 0, value[rng.nextInt(value.length)]!); // a duplicate
      break;
    default:
      for (let i = between(rng, 1, 4); i > 0 && value.length > 0; i--)
        value[rng.nextInt(value.length)] = pick(rng, pool);
  }
  return { type: "array", of: v.of, value };
}

const STRING_CHOICES: Record<string, readonly string[]> = {
  "tokenizer.ggml.pre": PRE_NAMES,
  "tokenizer.ggml.model": MODELS,
  "general.architecture": ARCHS,
  "tokenizer.chat_template": TEMPLATES,
};

/** One metadata edit. */
function metadataEdit(rng: Rng, p: Parsed): void {
  const kvs = p.kvs;
  const i = rng.nextInt(Math.max(1, kvs.length));
  const entry = kvs[i];
  const arch = (kvs.find(([k]) => k === "general.architecture")?.[1].value as string) ?? "llama";
  switch (rng.nextInt(10)) {
    case 0:
      if (entry) kvs.splice(i, 1);
      return;
    case 1:
      if (entry) kvs.push([entry[0], awkwardValue(rng, entry[1])]); // the same key twice
      return;
    case 2: {
      const key = pick(rng, Object.keys(STRING_CHOICES));
      setKey(kvs, key, { type: "string", value: pick(rng, STRING_CHOICES[key]!) });
      return;
    }
    case 3: {
      const key = pick(
        rng,
        ["tokens", "token_type", "merges", "scores"].map((k) => `tokenizer.ggml.${k}`),
      );
      const old = kvs.find(([k]) => k === key)?.[1];
      if (old) setKey(kvs, key, tokenizerArray(rng, old));
      return;
    }
    case 4: {
      const n = (kvs.find(([k]) => k === "tokenizer.ggml.tokens")?.[1].value as unknown[] | undefined)?.length ?? 0;
      const which = pick(rng, ["bos", "eos", "unknown", "padding", "eot", "eom", "sep"]);
      const id = pick(rng, [n, n - 1, n + 7, 2 ** 32 - 1, 0]);
      setKey(
        kvs,
        `tokenizer.ggml.${which}_token_id`,
        rng.nextInt(4) === 0 ? awkwardValue(rng, { type: "u32", value: id }) : { type: "u32", value: id },
      );
      return;
    }
    case 5: {
      const keys = kvs.filter(([k]) => k.startsWith(`${arch}.`));
      if (keys.length === 0) return;
      const [key, old] = pick(rng, keys);
      setKey(kvs, key, awkwardValue(rng, old));
      return;
    }
    case 6: {
      const extra: [string, GgufValue][] = [
        [`${arch}.expert_count`, { type: "u32", value: 2 }],
        [`${arch}.rope.scaling.type`, { type: "string", value: pick(rng, ["linear", "yarn", "none", "llama3"]) }],
        [`${arch}.rope.scaling.factor`, { type: "f32", value: pick(rng, [0, -1, 4, Number.NaN]) }],
        [`${arch}.attention.key_length`, { type: "u32", value: pick(rng, [0, 4, 16, 2 ** 31]) }],
        ["general.alignment", { type: pick(rng, ["u32", "u64"] as const), value: pick(rng, [0, 1, 3, 64, 2 ** 31]) }],
        ["tokenizer.ggml.add_space_prefix", awkwardValue(rng, { type: "bool", value: true })],
        ["tokenizer.ggml.add_bos_token", awkwardValue(rng, { type: "bool", value: true })],
        ["tokenizer.chat_template.tool_use", awkwardValue(rng, { type: "string", value: "" })],
      ];
      const [key, value] = pick(rng, extra);
      setKey(
        kvs,
        key,
        key === "general.alignment" && value.type === "u64"
          ? { type: "u64", value: BigInt(value.value as number) }
          : value,
      );
      if (key === "general.alignment" && value.type === "u32") {
        const a = value.value as number;
        if (a > 0 && (a & (a - 1)) === 0 && a <= 64) p.alignment = a;
      }
      return;
    }
    default:
      if (entry) entry[1] = awkwardValue(rng, entry[1]);
  }
}

function setKey(kvs: [string, GgufValue][], key: string, value: GgufValue): void {
  const at = kvs.findIndex(([k]) => k === key);
  if (at >= 0) kvs[at] = [key, value];
  else kvs.push([key, value]);
}

/** One tensor-info edit (or a rope_freqs tensor appended with odd factors). */
function tensorEdit(rng: Rng, p: Parsed): void {
  const infos = p.infos;
  if (infos.length === 0) return;
  const i = rng.nextInt(infos.length);
  const t = infos[i]!;
  switch (rng.nextInt(9)) {
    case 0:
      t.name = pick(rng, [
        "",
        "token_embd.weight",
        "output.weight",
        "blk.0.attn_q.bias",
        "blk.9.attn_q.weight",
        `${t.name}x`,
        "rope_freqs.weight",
        "blk.0.attn_q_norm.weight",
      ]);
      return;
    case 1:
      infos.splice(i, 1);
      return;
    case 2:
      infos.push({ ...t, dims: [...t.dims], name: rng.nextInt(2) === 0 ? t.name : `${t.name}.copy` });
      return;
    case 3: {
      const d = rng.nextInt(t.dims.length);
      t.dims[d] = pick(rng, [1n, 2n, 32n, 256n, t.dims[d]! * 2n, t.dims[d]! / 2n, 2n ** 40n]);
      return;
    }
    case 4:
      t.dims = rng.nextInt(2) === 0 ? [...t.dims].reverse() : [...t.dims, 1n];
      return;
    case 5:
      t.type = pick(rng, [0, 1, 2, 3, 6, 8, 10, 12, 13, 14, 15, 24, 28, 30, 4, 99]);
      return;
    case 6:
      t.offset = pick(rng, [0n, t.offset + 32n, t.offset - 32n, BigInt(p.data.length), infos[0]!.offset, 2n ** 40n]);
      return;
    case 7: {
      // rope_freqs: llama3 recovery on factors it may or may not reproduce
      const n = Number(p.kvs.find(([k]) => k.endsWith(".rope.dimension_count"))?.[1].value ?? 8) / 2;
      const count = pick(rng, [n, n - 1, 1, 0]);
      const values = Float32Array.from({ length: Math.max(0, count) }, (_, j) =>
        pick(rng, [1, 1, 8, 4, Number.NaN, 0, -1, 1 + j / 3]),
      );
      const bytes = new Uint8Array(values.buffer);
      const start = Math.ceil(p.data.length / p.alignment) * p.alignment;
      const data = new Uint8Array(start + bytes.length);
      data.set(p.data);
      data.set(bytes, start);
      p.data = data;
      infos.push({ name: "rope_freqs.weight", dims: [BigInt(count)], type: 0, offset: BigInt(start) });
      return;
    }
    default: {
      const j = rng.nextInt(infos.length);
      [infos[i]!.offset, infos[j]!.offset] = [infos[j]!.offset, infos[i]!.offset];
    }
  }
}

/** The GGUF-aware mutator (see the file comment). */
export function ggufMutator(rng: Rng, input: Uint8Array): Uint8Array {
  const p = parse(input);
  if (p === null) return pick(rng, BYTE_MUTATORS)(rng, input);
  const r = rng.nextInt(10);
  if (r < 3) return fieldLie(rng, input, p);
  if (r < 7) metadataEdit(rng, p);
  else tensorEdit(rng, p);
  return encode(p);
}

/** Byte mutators plus the GGUF-aware one, weighted towards the latter. */
export const GGUF_MUTATORS: readonly Mutator[] = [...BYTE_MUTATORS, ...Array<Mutator>(8).fill(ggufMutator)];
