/**
 * Malformed safetensors files: each is rejected with a LoratuneError whose code says where the problem is and
 * whose message names the file (and the tensor when there is one). Files are built byte by byte here.
 */
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, test } from "node:test";
import { readSafetensors, readSafetensorsHeader, readTensor } from "../../src/io/safetensors.ts";

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "loratune-stbad-"));
after(() => fs.rmSync(dir, { recursive: true, force: true }));
let n = 0;

/** Writes 8-byte length + `header` (string, or object to stringify) + `dataBytes` zero bytes; returns the path. */
function rawFile(header: string | object, dataBytes: number, lengthField?: bigint): string {
  const file = path.join(dir, `bad${++n}.safetensors`);
  const json = Buffer.from(typeof header === "string" ? header : JSON.stringify(header), "utf8");
  const prefix = Buffer.alloc(8);
  prefix.writeBigUInt64LE(lengthField ?? BigInt(json.length));
  fs.writeFileSync(file, Buffer.concat([prefix, json, Buffer.alloc(dataBytes)]));
  return file;
}

/** Asserts that reading the header of `file` throws `code` with a message naming the file and matching `re`. */
function rejects(file: string, code: string, re: RegExp, read: () => unknown = () => readSafetensorsHeader(file)) {
  assert.throws(read, (e: Error & { code?: string }) => {
    assert.equal(e.code, code, e.message);
    assert.ok(e.message.includes(file), `message names the file: ${e.message}`);
    assert.match(e.message, re);
    return true;
  });
}

const f32 = (shape: number[], begin: number, end: number) => ({ dtype: "F32", shape, data_offsets: [begin, end] });

test("a valid hand-built file is accepted (the cases below differ from it in one point)", () => {
  const file = rawFile({ __metadata__: { a: "b" }, w: f32([2], 0, 8), v: f32([1, 1], 8, 12) }, 12);
  const header = readSafetensorsHeader(file);
  assert.deepEqual([...header.tensors.keys()], ["w", "v"]);
  assert.deepEqual(readSafetensors(file, "f32").get("v")!.shape, [1, 1]);
});

test("file shorter than the length field, header length past the file, header length over the cap", () => {
  const tiny = path.join(dir, "tiny.safetensors");
  fs.writeFileSync(tiny, Buffer.from([1, 0, 0]));
  rejects(tiny, "ERR_SAFETENSORS_HEADER", /fewer than the 8-byte header length/);
  rejects(rawFile("{}", 0, 3n), "ERR_SAFETENSORS_HEADER", /header length 3 goes past the end of the 10-byte file/);
  rejects(rawFile("{}", 0, 200_000_000n), "ERR_SAFETENSORS_HEADER", /exceeds the 100000000-byte limit/);
  rejects(rawFile("{}", 0, 0xffff_ffff_ffff_ffffn), "ERR_SAFETENSORS_HEADER", /exceeds/);
});

test("header not UTF-8, not JSON, not an object", () => {
  const file = path.join(dir, "latin1.safetensors");
  const body = Buffer.from([0x7b, 0x22, 0xff, 0x22, 0x3a, 0x31, 0x7d, 0x20]); // {"\xff":1}
  const prefix = Buffer.alloc(8);
  prefix.writeBigUInt64LE(BigInt(body.length));
  fs.writeFileSync(file, Buffer.concat([prefix, body]));
  rejects(file, "ERR_SAFETENSORS_HEADER", /not valid UTF-8/);
  rejects(rawFile('{"w": {"dtype": "F32",', 0), "ERR_SAFETENSORS_HEADER", /not valid JSON/);
  rejects(rawFile("[1, 2]", 0), "ERR_SAFETENSORS_HEADER", /does not start with '\{'/);
  rejects(rawFile("", 0), "ERR_SAFETENSORS_HEADER", /does not start/);
  rejects(rawFile('{"w": 1} {}', 0), "ERR_SAFETENSORS_HEADER", /not valid JSON/);
  rejects(rawFile({ w: [1] }, 0), "ERR_SAFETENSORS_HEADER", /tensor "w": entry is not an object/);
});

test("__metadata__ must be an object of strings", () => {
  rejects(rawFile({ __metadata__: ["x"] }, 0), "ERR_SAFETENSORS_HEADER", /__metadata__ is not an object/);
  rejects(
    rawFile({ __metadata__: { step: 3 } }, 0),
    "ERR_SAFETENSORS_HEADER",
    /__metadata__ key "step" is not a string/,
  );
});

test("missing or invalid dtype", () => {
  rejects(
    rawFile({ w: { shape: [1], data_offsets: [0, 4] } }, 4),
    "ERR_SAFETENSORS_HEADER",
    /"w": missing or non-string dtype/,
  );
  rejects(rawFile({ w: { dtype: 32, shape: [1], data_offsets: [0, 4] } }, 4), "ERR_SAFETENSORS_HEADER", /"w": missing/);
  for (const dtype of ["F33", "f32", "constructor", "__proto__"]) {
    rejects(
      rawFile({ w: { dtype, shape: [1], data_offsets: [0, 4] } }, 4),
      "ERR_SAFETENSORS_HEADER",
      /"w": unknown dtype/,
    );
  }
});

test("bad shape entries", () => {
  const bad: unknown[] = [undefined, 3, [-1], [1.5], ["2"], [null], [2 ** 53]];
  for (const shape of bad) {
    rejects(
      rawFile({ w: { dtype: "F32", shape, data_offsets: [0, 0] } }, 0),
      "ERR_SAFETENSORS_HEADER",
      /tensor "w": .*shape/,
    );
  }
  rejects(
    rawFile({ w: f32([2 ** 30, 2 ** 30, 2 ** 30], 0, 0) }, 0),
    "ERR_SAFETENSORS_HEADER",
    /"w": shape .* too large/,
  );
  rejects(
    rawFile({ w: { dtype: "F4", shape: [3], data_offsets: [0, 2] } }, 2),
    "ERR_SAFETENSORS_HEADER",
    /"w": 3 elements of F4/,
  );
});

test("bad data_offsets: missing, wrong arity, negative, non-integer, end before begin", () => {
  const bad: unknown[] = [undefined, [0], [0, 4, 8], [-4, 0], [0, 4.5], ["0", "4"], [8, 4]];
  for (const offsets of bad) {
    rejects(
      rawFile({ w: { dtype: "F32", shape: [1], data_offsets: offsets } }, 8),
      "ERR_SAFETENSORS_HEADER",
      /tensor "w": data_offsets/,
    );
  }
});

test("shape disagreeing with the byte size", () => {
  rejects(
    rawFile({ w: f32([2, 3], 0, 20) }, 20),
    "ERR_SAFETENSORS_HEADER",
    /"w": shape \[2,3\] of F32 needs 24 bytes but data_offsets \[0, 20\] hold 20/,
  );
  rejects(
    rawFile({ w: { dtype: "BF16", shape: [4], data_offsets: [0, 16] } }, 16),
    "ERR_SAFETENSORS_HEADER",
    /"w": .*needs 8 bytes/,
  );
});

test("offsets out of range, overlapping, leaving holes, or not reaching the end of the file", () => {
  rejects(
    rawFile({ w: f32([2], 0, 8) }, 4),
    "ERR_SAFETENSORS_HEADER",
    /"w": data_offsets \[0, 8\] go past the 4-byte data section/,
  );
  rejects(rawFile({ a: f32([2], 0, 8), b: f32([2], 4, 12) }, 12), "ERR_SAFETENSORS_HEADER", /"b" overlaps tensor "a"/);
  rejects(rawFile({ a: f32([2], 0, 8), b: f32([2], 0, 8) }, 8), "ERR_SAFETENSORS_HEADER", /overlaps/);
  rejects(
    rawFile({ a: f32([1], 0, 4), b: f32([1], 8, 12) }, 12),
    "ERR_SAFETENSORS_HEADER",
    /bytes 4\.\.8 .* before tensor "b" belong to no tensor/,
  );
  rejects(rawFile({ b: f32([1], 4, 8) }, 8), "ERR_SAFETENSORS_HEADER", /bytes 0\.\.4 .* before tensor "b"/);
  rejects(
    rawFile({ a: f32([1], 0, 4) }, 6),
    "ERR_SAFETENSORS_HEADER",
    /last 2 bytes of the data section belong to no tensor/,
  );
  rejects(rawFile({}, 1), "ERR_SAFETENSORS_HEADER", /last 1 bytes/);
  // Zero-size tensors may share a position; order in the JSON does not matter.
  const ok = rawFile({ z: f32([0], 4, 4), b: f32([1], 4, 8), y: f32([0, 3], 4, 4), a: f32([1], 0, 4) }, 8);
  assert.deepEqual([...readSafetensorsHeader(ok).tensors.keys()], ["a", "z", "y", "b"]); // by (begin, end), stable
});

test("tensors of unsupported dtypes are listed; reading one as a weight names it", () => {
  const file = rawFile(
    {
      ids: { dtype: "I64", shape: [2], data_offsets: [0, 16] },
      m: { dtype: "U8", shape: [3], data_offsets: [16, 19] },
      w: { dtype: "BF16", shape: [1], data_offsets: [19, 21] },
    },
    21,
  );
  const header = readSafetensorsHeader(file);
  assert.deepEqual(header.unsupported, ["ids", "m"]);
  assert.equal(readTensor(header, "w", "f32").data.length, 1);
  rejects(file, "ERR_SAFETENSORS_TENSOR", /"ids": dtype I64 cannot be read as a weight/, () =>
    readTensor(header, "ids", "f32"),
  );
  rejects(file, "ERR_SAFETENSORS_TENSOR", /"ids" \(I64\), "m" \(U8\)/, () => readSafetensors(file, "bf16"));
  rejects(file, "ERR_SAFETENSORS_TENSOR", /"nope": not in the file/, () => readTensor(header, "nope", "f32"));
});

test("missing file, and a file truncated after its header was read, are I/O errors", () => {
  const missing = path.join(dir, "missing.safetensors");
  rejects(missing, "ERR_IO", /cannot open/);
  const file = rawFile({ w: f32([4], 0, 16) }, 16);
  const header = readSafetensorsHeader(file);
  fs.truncateSync(file, fs.statSync(file).size - 4);
  rejects(file, "ERR_IO", /size changed/, () => readTensor(header, "w", "f32"));
  rejects(file, "ERR_SAFETENSORS_HEADER", /go past/);
});
