/**
 * GGUF metadata values. A key's value carries its GGUF type, so what is read can be written back unchanged and a
 * writer states the exact type llama.cpp expects (u32 for counts, f32 for epsilons, …). Arrays hold one scalar
 * type (GGUF allows nested arrays; llama.cpp never writes them and this module refuses them).
 */

/** GGUF's value type ids (gguf.h: GGUF_TYPE_*). */
export const GGUF_VALUE_TYPES = {
  u8: 0,
  i8: 1,
  u16: 2,
  i16: 3,
  u32: 4,
  i32: 5,
  f32: 6,
  bool: 7,
  string: 8,
  array: 9,
  u64: 10,
  i64: 11,
  f64: 12,
} as const;

export type GgufScalarType = Exclude<keyof typeof GGUF_VALUE_TYPES, "array">;

/** Bytes of a fixed-size scalar (strings are length-prefixed and have none). */
export const SCALAR_BYTES: Record<Exclude<GgufScalarType, "string">, number> = {
  u8: 1,
  i8: 1,
  u16: 2,
  i16: 2,
  u32: 4,
  i32: 4,
  f32: 4,
  bool: 1,
  u64: 8,
  i64: 8,
  f64: 8,
};

/** A 64-bit integer is a bigint; every other number a number; bool a boolean. */
export type GgufScalar = number | bigint | boolean | string;

export type GgufValue =
  | { type: GgufScalarType; value: GgufScalar }
  | { type: "array"; of: GgufScalarType; value: GgufScalar[] };

/** Metadata in file order (a Map keeps it); keys are unique. */
export type GgufMetadata = Map<string, GgufValue>;

export const u32 = (value: number): GgufValue => ({ type: "u32", value });
export const i32 = (value: number): GgufValue => ({ type: "i32", value });
export const f32 = (value: number): GgufValue => ({ type: "f32", value });
export const bool = (value: boolean): GgufValue => ({ type: "bool", value });
export const str = (value: string): GgufValue => ({ type: "string", value });
export const strings = (value: string[]): GgufValue => ({ type: "array", of: "string", value });
export const i32s = (value: number[]): GgufValue => ({ type: "array", of: "i32", value });
export const f32s = (value: number[]): GgufValue => ({ type: "array", of: "f32", value });

/** The scalar value of `key` when it has one of `types`, else undefined. */
export function scalarOf(meta: GgufMetadata, key: string): GgufScalar | undefined {
  const v = meta.get(key);
  return v === undefined || v.type === "array" ? undefined : v.value;
}

/** A numeric (integer or float) value of `key` as a number, else undefined. */
export function numberOf(meta: GgufMetadata, key: string): number | undefined {
  const v = scalarOf(meta, key);
  if (typeof v === "number") return v;
  if (typeof v === "bigint") return Number(v);
  return undefined;
}

/** A string value of `key`, else undefined. */
export function stringOf(meta: GgufMetadata, key: string): string | undefined {
  const v = scalarOf(meta, key);
  return typeof v === "string" ? v : undefined;
}
