/**
 * LORATUNE_BACKEND=webgpu in Node: `train` opens a device through the optional `webgpu` package (Dawn). Where Dawn
 * finds no adapter (these machines: no Vulkan loader, no GPU) the run is refused before its directory is made,
 * saying why and what works; where it finds one, the run trains and writes its adapter. Resuming is refused before
 * any device is opened.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { BIN } from "../helpers/cli.ts";

const work = mkdtempSync(join(tmpdir(), "lt-webgpu-node-"));
after(() => rmSync(work, { recursive: true, force: true }));

const data = join(work, "data.jsonl");
writeFileSync(
  data,
  Array.from({ length: 8 }, (_, i) => JSON.stringify({ prompt: `say ${i}`, completion: ` ${i} ${i + 1}` })).join("\n"),
);

function train(env: Record<string, string>, ...extra: string[]) {
  const out = join(work, `run-${Math.random().toString(36).slice(2)}`);
  const args = ["train", "--model", "models/demo", "--data", data, "--out", out, "--steps", "2", "--seq-len", "16"];
  const r = spawnSync(process.execPath, [BIN, ...args, ...extra], {
    encoding: "utf8",
    cwd: join(import.meta.dirname, "..", ".."),
    env: { ...process.env, LORATUNE_BACKEND: "webgpu", ...env },
  });
  return { code: r.status, stderr: r.stderr, out };
}

test("LORATUNE_BACKEND=webgpu train: refused with the reason when Dawn finds no adapter, else trained", () => {
  // Without a Vulkan loader on the library path Dawn has no adapter here; a machine with a GPU trains.
  const r = train({ VK_ICD_FILENAMES: join(work, "no-such-icd.json") });
  if (/training on WebGPU/.test(r.stderr)) {
    assert.equal(r.code, 0, r.stderr);
    assert.ok(existsSync(join(r.out, "adapter_model.safetensors")), "the trained adapter");
    return;
  }
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, /LORATUNE_BACKEND=webgpu: the webgpu package \(Dawn\) found no GPU adapter on this machine/);
  assert.match(r.stderr, /Vulkan \(Linux: libvulkan\.so\.1 and the GPU's Vulkan driver\), Metal \(macOS\) or D3D12/);
  assert.match(r.stderr, /Unset LORATUNE_BACKEND to train on the CPU kernels/);
  assert.ok(!existsSync(r.out), "refused before the run directory is made");
});

test("LORATUNE_BACKEND=webgpu train --resume is refused before a device is opened, naming why", () => {
  const cpu = train({ LORATUNE_BACKEND: "" }, "--steps", "1");
  assert.equal(cpu.code, 0, cpu.stderr);
  const r = spawnSync(process.execPath, [BIN, "train", "--resume", cpu.out, "--steps", "2"], {
    encoding: "utf8",
    env: { ...process.env, LORATUNE_BACKEND: "webgpu" },
  });
  assert.equal(r.status, 2, r.stderr);
  assert.match(
    r.stderr,
    /LORATUNE_BACKEND=webgpu: resuming a run is not supported \(AdamW's state lives on the GPU\); unset LORATUNE_BACKEND/,
  );
  assert.doesNotMatch(r.stderr, /found no GPU adapter|training on WebGPU/);
});
