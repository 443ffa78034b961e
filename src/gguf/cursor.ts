/**
 * Sequential little-endian reads from an open file through a 1 MiB window, for a GGUF header. Every length read
 * from the file is checked against the bytes the file has left before anything of that length is allocated, so a
 * corrupt header cannot ask for gigabytes.
 */
import { readSync } from "node:fs";
import { LoratuneError } from "../errors.ts";

const WINDOW = 1 << 20;
const utf8 = new TextDecoder("utf-8", { fatal: true });

export class FileCursor {
  /** Absolute position of the next byte to read. */
  pos = 0;
  private buf = new Uint8Array(WINDOW);
  private view = new DataView(this.buf.buffer);
  /** The window holds file bytes [start, start + filled). */
  private start = 0;
  private filled = 0;

  constructor(
    private readonly fd: number,
    readonly path: string,
    readonly size: number,
  ) {}

  fail(what: string): LoratuneError {
    return new LoratuneError("ERR_GGUF", `${this.path}: invalid GGUF file: ${what} (at byte ${this.pos})`);
  }

  /** Bytes left after the cursor. */
  left(): number {
    return this.size - this.pos;
  }

  /** Makes [pos, pos + n) readable from the window (n ≤ WINDOW); returns its index in the window. */
  private need(n: number, what: string): number {
    if (n > this.left()) throw this.fail(`the file ends inside ${what}`);
    if (this.pos < this.start || this.pos + n > this.start + this.filled) {
      this.start = this.pos;
      this.filled = 0;
      const want = Math.min(WINDOW, this.size - this.pos);
      while (this.filled < want) {
        const got = readSync(this.fd, this.buf, this.filled, want - this.filled, this.start + this.filled);
        if (got === 0) throw this.fail(`the file ends inside ${what}`);
        this.filled += got;
      }
    }
    const at = this.pos - this.start;
    this.pos += n;
    return at;
  }

  u8(what: string): number {
    return this.view.getUint8(this.need(1, what));
  }
  i8(what: string): number {
    return this.view.getInt8(this.need(1, what));
  }
  u16(what: string): number {
    return this.view.getUint16(this.need(2, what), true);
  }
  i16(what: string): number {
    return this.view.getInt16(this.need(2, what), true);
  }
  u32(what: string): number {
    return this.view.getUint32(this.need(4, what), true);
  }
  i32(what: string): number {
    return this.view.getInt32(this.need(4, what), true);
  }
  f32(what: string): number {
    return this.view.getFloat32(this.need(4, what), true);
  }
  f64(what: string): number {
    return this.view.getFloat64(this.need(8, what), true);
  }
  u64(what: string): bigint {
    return this.view.getBigUint64(this.need(8, what), true);
  }
  i64(what: string): bigint {
    return this.view.getBigInt64(this.need(8, what), true);
  }

  /** A u64 that must be at most `max` (a count or length the rest of the file must be able to hold). */
  count(what: string, max: number): number {
    const v = this.u64(what);
    if (v > BigInt(max)) throw this.fail(`${what} is ${v}, more than the file can hold (${max})`);
    return Number(v);
  }

  /** A u64-length-prefixed UTF-8 string. */
  string(what: string): string {
    const n = this.count(`the length of ${what}`, this.left());
    if (n <= WINDOW) {
      const at = this.need(n, what);
      return this.decode(this.buf.subarray(at, at + n), what);
    }
    const bytes = new Uint8Array(n);
    let done = 0;
    while (done < n) done += readSync(this.fd, bytes, done, n - done, this.pos + done);
    this.pos += n;
    return this.decode(bytes, what);
  }

  private decode(bytes: Uint8Array, what: string): string {
    try {
      return utf8.decode(bytes);
    } catch {
      throw this.fail(`${what} is not valid UTF-8`);
    }
  }
}
