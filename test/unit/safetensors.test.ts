/** safetensors write → read round trips, conversions on read, the writer's layout, and positioned reads past 4 GiB. */
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, test } from "node:test";
import { f16BitsToF32, f32ToBf16 } from "../../src/io/dtype.ts";
import { readSafetensors, readSafetensorsHeader, readTensor, type TensorToWrite } from "../../src/io/safetensors.ts";
import { writeSafetensors } from "../../src/io/safetensors-write.ts";

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "loratune-st-"));
after(() => fs.rmSync(dir, { recursive: true, force: true }));
let n = 0;
const tmpFile = () => path.join(dir, `t${++n}.safetensors`);

/** Deterministic f32 values including ±0, ±inf, NaN, subnormals and wide exponents. */
function f32Values(count: number): Float32Array {
  const out = new Float32Array(count);
  const bits = new Uint32Array(out.buffer);
  let s = 99;
  for (let i = 0; i < count; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    bits[i] = s;
  }
  out.set([0, -0, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, Number.NaN, 1e-40, -3.5]);
  return out;
}

/** The JSON text of the header of `file` and the header length field. */
function headerText(file: string): { length: number; text: string } {
  const bytes = fs.readFileSync(file);
  const length = Number(bytes.readBigUInt64LE(0));
  return { length, text: bytes.subarray(8, 8 + length).toString("utf8") };
}

const bitsEqual = (a: Float32Array, b: Float32Array) =>
  assert.deepEqual(
    new Uint32Array(a.buffer, a.byteOffset, a.length),
    new Uint32Array(b.buffer, b.byteOffset, b.length),
  );

test("F32 round trip is bit-exact (NaN, -0, inf, subnormals), with metadata", () => {
  const file = tmpFile();
  const a = f32Values(6 * 7);
  const b = f32Values(12).map((x) => x * 2);
  writeSafetensors(
    file,
    { "w.a": { dtype: "F32", shape: [6, 7], data: a }, "w.b": { dtype: "F32", shape: [3, 4], data: b } },
    { format: "pt", note: 'quote " and ü' },
  );
  const header = readSafetensorsHeader(file);
  assert.deepEqual(header.metadata, { format: "pt", note: 'quote " and ü' });
  assert.deepEqual(header.unsupported, []);
  const got = readSafetensors(file, "f32");
  assert.deepEqual([...got.keys()].sort(), ["w.a", "w.b"]);
  assert.deepEqual(got.get("w.a")!.shape, [6, 7]);
  assert.equal(got.get("w.a")!.dtype, "f32");
  bitsEqual(got.get("w.a")!.data as Float32Array, a);
  bitsEqual(got.get("w.b")!.data as Float32Array, b);
});

test("BF16 round trip of every bit pattern (raw Uint16 data) read as bf16 is the identity", () => {
  const file = tmpFile();
  const all = new Uint16Array(65536).map((_, i) => i);
  writeSafetensors(file, { all: { dtype: "BF16", shape: [256, 256], data: all } });
  const t = readTensor(readSafetensorsHeader(file), "all", "bf16");
  assert.equal(t.dtype, "bf16");
  assert.deepEqual(t.shape, [256, 256]);
  assert.deepEqual(t.data, all);
});

test("F16 round trip: f16-representable f32 values and raw bits come back exactly as f32", () => {
  const file = tmpFile();
  const values = new Float32Array([0, -0, 1, -2, 65504, 2 ** -24, 0.333251953125, Number.NEGATIVE_INFINITY]);
  const raw = new Uint16Array(0x7c00).map((_, i) => i); // every non-negative finite f16
  writeSafetensors(file, {
    v: { dtype: "F16", shape: [8], data: values },
    raw: { dtype: "F16", shape: [raw.length], data: raw },
  });
  const got = readSafetensors(file, "f32");
  bitsEqual(got.get("v")!.data as Float32Array, values);
  const wide = got.get("raw")!.data as Float32Array;
  for (let h = 0; h < raw.length; h++) assert.equal(wide[h], f16BitsToF32(h));
});

test("BF16 read as f32 and written back as BF16 reproduces the file's bits", () => {
  const src = tmpFile();
  const bits = new Uint16Array(1000).map((_, i) => (i * 977 + 3) & 0x7f7f); // finite patterns
  writeSafetensors(src, { x: { dtype: "BF16", shape: [10, 100], data: bits } });
  const asF32 = readTensor(readSafetensorsHeader(src), "x", "f32");
  assert.equal(asF32.dtype, "f32");
  const dst = tmpFile();
  writeSafetensors(dst, { x: { dtype: "BF16", shape: asF32.shape, data: asF32.data } });
  assert.deepEqual(fs.readFileSync(dst), fs.readFileSync(src));
});

test("F32 read as bf16 rounds to nearest even; F16 read as bf16 converts", () => {
  const file = tmpFile();
  const x = new Float32Array([1 + 2 ** -8, 1 + 3 * 2 ** -8, -(1 + 2 ** -8 + 2 ** -20), 3.4e38]);
  const h = new Uint16Array([0x3c00, 0x3c04, 0x3c0c, 0xfc00]); // f16: 1, 1+2^-8, 1+3·2^-8, -inf
  writeSafetensors(file, { x: { dtype: "F32", shape: [4], data: x }, h: { dtype: "F16", shape: [2, 2], data: h } });
  const got = readSafetensors(file, "bf16");
  assert.deepEqual([...(got.get("x")!.data as Uint16Array)], [0x3f80, 0x3f82, 0xbf81, 0x7f80]);
  assert.deepEqual([...(got.get("h")!.data as Uint16Array)], [0x3f80, 0x3f80, 0x3f82, 0xff80]);
  assert.deepEqual(got.get("h")!.shape, [2, 2]);
});

test("writer: keys sorted after __metadata__, header padded with spaces to 8 bytes, data aligned", () => {
  const file = tmpFile();
  const t = (dtype: "F32" | "BF16", len: number): TensorToWrite =>
    dtype === "F32"
      ? { dtype, shape: [len], data: new Float32Array(len) }
      : { dtype, shape: [len], data: new Uint16Array(len) };
  writeSafetensors(
    file,
    new Map([
      ["b", t("BF16", 3)],
      ["a", t("F32", 1)],
      ["10", t("F32", 2)],
      ["2", t("BF16", 1)],
    ]),
    { k: "v" },
  );
  const { length, text } = headerText(file);
  assert.equal(length % 8, 0);
  assert.match(text, / *$/);
  const order = ["__metadata__", "10", "2", "a", "b"].map((k) => text.indexOf(`"${k}":`));
  assert.deepEqual(
    [...order].sort((p, q) => p - q),
    order,
  );
  assert.ok(order.every((p) => p > 0));
  const header = readSafetensorsHeader(file);
  for (const info of header.tensors.values()) {
    const width = info.dtype === "F32" ? 4 : 2;
    assert.equal((info.begin - header.dataStart) % width, 0, `${info.name} aligned`);
  }
  // F32 tensors (wider) come first in the data, then BF16, each group by name.
  assert.deepEqual([...header.tensors.keys()], ["10", "a", "2", "b"]);
});

test("writer output matches the reference implementation's bytes for simple files", () => {
  const file = tmpFile();
  writeSafetensors(file, { "attn.0": { dtype: "F32", shape: [1, 2, 3], data: new Float32Array([0, 1, 2, 3, 4, 5]) } });
  const json = '{"attn.0":{"dtype":"F32","shape":[1,2,3],"data_offsets":[0,24]}}';
  const expected = Buffer.alloc(8 + json.length + 24);
  expected.writeBigUInt64LE(BigInt(json.length), 0);
  expected.write(json, 8, "utf8");
  Buffer.from(new Float32Array([0, 1, 2, 3, 4, 5]).buffer).copy(expected, 8 + json.length);
  assert.deepEqual(fs.readFileSync(file), expected);

  writeSafetensors(file, {});
  assert.deepEqual([...fs.readFileSync(file)], [8, 0, 0, 0, 0, 0, 0, 0, 123, 125, 32, 32, 32, 32, 32, 32]);
  writeSafetensors(file, {}, { framework: "pt" });
  assert.deepEqual(headerText(file), { length: 40, text: '{"__metadata__":{"framework":"pt"}}     ' });
  assert.equal(readSafetensors(file, "f32").size, 0);
});

test("zero-size and scalar tensors round trip", () => {
  const file = tmpFile();
  writeSafetensors(file, {
    empty: { dtype: "F32", shape: [0, 5], data: new Float32Array(0) },
    scalar: { dtype: "BF16", shape: [], data: new Float32Array([2.5]) },
  });
  const got = readSafetensors(file, "f32");
  assert.deepEqual(got.get("empty")!.shape, [0, 5]);
  assert.equal(got.get("empty")!.data.length, 0);
  assert.deepEqual(got.get("scalar")!.shape, []);
  assert.deepEqual([...got.get("scalar")!.data], [2.5]);
});

test("writer rejects bad tensors with ERR_SAFETENSORS_TENSOR naming the file and tensor, leaving no file", () => {
  const file = path.join(dir, "bad.safetensors");
  const cases: [Record<string, TensorToWrite>, RegExp][] = [
    [{ w: { dtype: "F32", shape: [2, 2], data: new Float32Array(3) } }, /"w".*4 elements but data has 3/],
    [{ w: { dtype: "F32", shape: [2], data: new Uint16Array(2) } }, /"w".*Float32Array/],
    [{ w: { dtype: "F32", shape: [-1], data: new Float32Array(0) } }, /"w".*bad shape/],
    [{ w: { dtype: "I64" as "F32", shape: [1], data: new Float32Array(1) } }, /"w".*cannot write dtype I64/],
    [{ __metadata__: { dtype: "F32", shape: [1], data: new Float32Array(1) } }, /reserved/],
  ];
  for (const [tensors, message] of cases) {
    assert.throws(
      () => writeSafetensors(file, tensors),
      (e: Error & { code?: string }) =>
        e.code === "ERR_SAFETENSORS_TENSOR" && e.message.includes(file) && message.test(e.message),
    );
  }
  assert.throws(() => writeSafetensors(file, {}, { n: 1 as unknown as string }), /"n" is not a string/);
  assert.deepEqual(
    fs.readdirSync(dir).filter((f) => f.includes("bad")),
    [],
  );
});

test("a write replaces an existing file and leaves no temporary files", () => {
  const sub = fs.mkdtempSync(path.join(dir, "w-"));
  const file = path.join(sub, "m.safetensors");
  writeSafetensors(file, { a: { dtype: "F32", shape: [1], data: new Float32Array([1]) } });
  writeSafetensors(file, { b: { dtype: "F32", shape: [1], data: new Float32Array([2]) } });
  assert.deepEqual(fs.readdirSync(sub), ["m.safetensors"]);
  assert.deepEqual([...readSafetensorsHeader(file).tensors.keys()], ["b"]);
});

test("conversions on write and on read that span several 8 MiB chunks convert every element", () => {
  const file = tmpFile();
  const count = 3 * (1 << 20) + 5; // 12 MiB of f32: chunks of 2 Mi elements, the last one partial
  const x = new Float32Array(count);
  for (let i = 0; i < count; i++) x[i] = (i % 1000) - 500.25 + i * 1e-3;
  writeSafetensors(file, {
    b: { dtype: "BF16", shape: [count], data: x },
    f: { dtype: "F32", shape: [count], data: x },
  });
  const header = readSafetensorsHeader(file);
  const expected = new Uint16Array(count);
  f32ToBf16(expected, x, count);
  assert.deepEqual(readTensor(header, "b", "bf16").data, expected); // converted on write
  assert.deepEqual(readTensor(header, "f", "bf16").data, expected); // converted on read
  const widened = readTensor(header, "b", "f32").data;
  const back = new Uint32Array(widened.buffer, widened.byteOffset, count); // a view: weights are cache-line aligned
  for (let i = 0; i < count; i++) {
    if (back[i] !== (expected[i]! << 16) >>> 0) assert.fail(`element ${i}: 0x${back[i]!.toString(16)}`);
  }
  assert.equal(widened[3], -498); // -497.25 + 0.003 on the bf16 grid (step 2 in [256, 512))
});

test("positioned reads past 4 GiB work (sparse file) and unsupported dtypes are listed", (t) => {
  const file = tmpFile();
  const pad = 2 ** 32 + 8; // a U8 tensor covering 4 GiB of holes, then small tensors at offsets past 2^32
  const json = JSON.stringify({
    pad: { dtype: "U8", shape: [pad], data_offsets: [0, pad] },
    x: { dtype: "F32", shape: [2, 2], data_offsets: [pad, pad + 16] },
    y: { dtype: "BF16", shape: [3], data_offsets: [pad + 16, pad + 22] },
  });
  const fd = fs.openSync(file, "w");
  try {
    const prefix = Buffer.alloc(8);
    prefix.writeBigUInt64LE(BigInt(json.length));
    fs.writeSync(fd, prefix, 0, 8, 0);
    fs.writeSync(fd, Buffer.from(json), 0, json.length, 8);
    const at = 8 + json.length + pad;
    fs.writeSync(fd, new Uint8Array(new Float32Array([1.5, -2, 3.25, 1e-3]).buffer), 0, 16, at);
    fs.writeSync(fd, new Uint8Array(new Uint16Array([0x3f80, 0xc040, 0x4120]).buffer), 0, 6, at + 16);
  } catch (err) {
    t.skip(`cannot create a sparse file here: ${(err as Error).message}`);
    return;
  } finally {
    fs.closeSync(fd);
  }
  const header = readSafetensorsHeader(file);
  assert.deepEqual(header.unsupported, ["pad"]);
  assert.ok(header.tensors.get("x")!.begin > 2 ** 32);
  bitsEqual(readTensor(header, "x", "f32").data as Float32Array, new Float32Array([1.5, -2, 3.25, 1e-3]));
  assert.deepEqual([...readTensor(header, "y", "f32").data], [1, -3, 10]);
  assert.deepEqual([...readTensor(header, "y", "bf16").data], [0x3f80, 0xc040, 0x4120]);
  assert.throws(() => readTensor(header, "pad", "f32"), /"pad": dtype U8 cannot be read as a weight/);
  assert.throws(
    () => readSafetensors(file, "f32"),
    (e: Error & { code?: string }) => e.code === "ERR_SAFETENSORS_TENSOR" && /"pad" \(U8\)/.test(e.message),
  );
  fs.rmSync(file);
});
