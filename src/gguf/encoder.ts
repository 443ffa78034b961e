/**
 * A growable little-endian byte buffer for a GGUF header: strings are a u64 byte length and UTF-8 bytes, values
 * are their type's width, arrays are a u32 element type, a u64 count and the elements.
 */
import { GGUF_VALUE_TYPES, type GgufScalar, type GgufScalarType, type GgufValue } from "./metadata.ts";

const utf8 = new TextEncoder();

export class ByteEncoder {
  private buf = new Uint8Array(1 << 16);
  private view = new DataView(this.buf.buffer);
  length = 0;

  /** The bytes written so far (a view, valid until the next write). */
  bytes(): Uint8Array {
    return this.buf.subarray(0, this.length);
  }

  private room(n: number): number {
    if (this.length + n > this.buf.length) {
      let size = this.buf.length * 2;
      while (size < this.length + n) size *= 2;
      const next = new Uint8Array(size);
      next.set(this.bytes());
      this.buf = next;
      this.view = new DataView(next.buffer);
    }
    const at = this.length;
    this.length += n;
    return at;
  }

  // Each write takes its room first: room() may grow the buffer, and `this.view.setX(this.room(n), …)` would
  // write through the old (shorter) view, which JavaScript reads before the argument.
  u8(v: number): void {
    const at = this.room(1);
    this.view.setUint8(at, v);
  }
  u32(v: number): void {
    const at = this.room(4);
    this.view.setUint32(at, v, true);
  }
  u64(v: number | bigint): void {
    const at = this.room(8);
    this.view.setBigUint64(at, BigInt(v), true);
  }
  raw(bytes: Uint8Array): void {
    const at = this.room(bytes.length);
    this.buf.set(bytes, at);
  }
  string(s: string): void {
    const b = utf8.encode(s);
    this.u64(b.length);
    this.raw(b);
  }
  /** Zero bytes up to the next multiple of `alignment`. */
  pad(alignment: number): void {
    const n = (alignment - (this.length % alignment)) % alignment;
    this.room(n); // new bytes of a fresh or grown buffer are zero, and bytes are never rewritten
  }

  scalar(type: GgufScalarType, v: GgufScalar, key: string): void {
    const bad = () => new Error(`GGUF metadata ${key}: ${String(v)} is not a ${type}`);
    if (type === "string") {
      if (typeof v !== "string") throw bad();
      this.string(v);
      return;
    }
    if (type === "bool") {
      if (typeof v !== "boolean") throw bad();
      this.u8(v ? 1 : 0);
      return;
    }
    if (type === "u64" || type === "i64") {
      if (typeof v !== "bigint" && typeof v !== "number") throw bad();
      const at = this.room(8);
      if (type === "u64") this.view.setBigUint64(at, BigInt(v), true);
      else this.view.setBigInt64(at, BigInt(v), true);
      return;
    }
    if (typeof v !== "number") throw bad();
    const set: Record<typeof type, (at: number) => void> = {
      u8: (at) => this.view.setUint8(at, v),
      i8: (at) => this.view.setInt8(at, v),
      u16: (at) => this.view.setUint16(at, v, true),
      i16: (at) => this.view.setInt16(at, v, true),
      u32: (at) => this.view.setUint32(at, v, true),
      i32: (at) => this.view.setInt32(at, v, true),
      f32: (at) => this.view.setFloat32(at, v, true),
      f64: (at) => this.view.setFloat64(at, v, true),
    };
    const width = { u8: 1, i8: 1, u16: 2, i16: 2, u32: 4, i32: 4, f32: 4, f64: 8 }[type];
    set[type](this.room(width));
  }

  /** A metadata key/value: key string, value type, value. */
  keyValue(key: string, v: GgufValue): void {
    this.string(key);
    this.u32(GGUF_VALUE_TYPES[v.type]);
    if (v.type !== "array") {
      this.scalar(v.type, v.value, key);
      return;
    }
    this.u32(GGUF_VALUE_TYPES[v.of]);
    this.u64(v.value.length);
    for (const e of v.value) this.scalar(v.of, e, key);
  }
}
