/**
 * `--model ollama:NAME[:TAG]` (and `inspect ollama:NAME`): the GGUF file Ollama keeps for a pulled model, found through its manifest in a store
 * laid out as Ollama lays it out (manifests/<registry>/<namespace>/<model>/<tag>, blobs/sha256-<hex> without an
 * extension, recognised as GGUF by its magic). The store here is made by the test from the demo model's q8_0 export.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { exportModel } from "../../src/api/export.ts";
import { isLoratuneError } from "../../src/errors.ts";
import { ollamaNameParts, resolveOllamaModel } from "../../src/io/ollama-store.ts";
import { isGgufPath } from "../../src/model/load-gguf.ts";
import { BIN } from "../helpers/cli.ts";

const work = mkdtempSync(join(tmpdir(), "loratune-ollama-"));
after(() => rmSync(work, { recursive: true, force: true }));
const store = join(work, "store");

/** A store holding `name` (library namespace) whose model layer is `gguf`; returns the blob's path. */
function pull(name: string, tag: string, gguf: string, layers?: unknown[]): string {
  const digest = createHash("sha256").update(readFileSync(gguf)).digest("hex");
  const blob = join(store, "blobs", `sha256-${digest}`);
  mkdirSync(join(store, "blobs"), { recursive: true });
  copyFileSync(gguf, blob);
  const manifestDir = join(store, "manifests", "registry.ollama.ai", "library", name);
  mkdirSync(manifestDir, { recursive: true });
  const manifest = {
    schemaVersion: 2,
    mediaType: "application/vnd.docker.distribution.manifest.v2+json",
    layers: layers ?? [
      { mediaType: "application/vnd.ollama.image.model", digest: `sha256:${digest}`, size: 1 },
      { mediaType: "application/vnd.ollama.image.template", digest: `sha256:${"0".repeat(64)}`, size: 1 },
    ],
  };
  writeFileSync(join(manifestDir, tag), JSON.stringify(manifest));
  return blob;
}

const env = { OLLAMA_MODELS: store };
function loratune(...args: string[]) {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: "utf8", env: { ...process.env, ...env } });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

test("Ollama model names map to manifest paths as `ollama pull` fills them in; bad names are usage errors", () => {
  assert.deepEqual(ollamaNameParts("llama3.2"), ["registry.ollama.ai", "library", "llama3.2", "latest"]);
  assert.deepEqual(ollamaNameParts("qwen2.5:0.5b"), ["registry.ollama.ai", "library", "qwen2.5", "0.5b"]);
  assert.deepEqual(ollamaNameParts("me/card:q4"), ["registry.ollama.ai", "me", "card", "q4"]);
  assert.deepEqual(ollamaNameParts("hf.co/org/model:Q4_K_M"), ["hf.co", "org", "model", "Q4_K_M"]);
  for (const bad of ["", ":tag", "a/b/c/d", "../x", "x:../y"]) {
    assert.throws(
      () => ollamaNameParts(bad),
      (e) => isLoratuneError(e) && e.code === "ERR_USAGE" && /expected an Ollama model name/.test(e.message),
      bad,
    );
  }
});

test("--model ollama:NAME trains and generates on the blob its manifest names, as on the same .gguf file", () => {
  const exported = exportModel({ model: "demo", out: join(work, "export"), outtype: "q8_0" });
  const gguf = join(exported.out, "model.gguf");
  const blob = pull("card", "q8", gguf);
  assert.equal(resolveOllamaModel("card:q8", env), blob);
  assert.ok(isGgufPath(blob), "a blob without an extension is recognised by its magic");
  assert.ok(!isGgufPath(join(store, "manifests", "registry.ollama.ai", "library", "card", "q8")));

  const prompt = ["generate", "--prompt", "Mira the baker", "--max-tokens", "12", "--temperature", "0"];
  const viaOllama = loratune(...prompt, "--model", "ollama:card:q8");
  const viaFile = loratune(...prompt, "--model", gguf);
  assert.equal(viaOllama.code, 0, viaOllama.stderr);
  assert.equal(viaFile.code, 0, viaFile.stderr);
  assert.equal(viaOllama.stdout, viaFile.stdout);

  const inspected = loratune("inspect", "ollama:card:q8");
  assert.equal(inspected.code, 0, inspected.stderr);
  assert.match(inspected.stdout, /tensor types\s+q8_0 \d+/);

  const data = join(work, "d.jsonl");
  writeFileSync(data, `${JSON.stringify({ prompt: "Mira the baker", completion: " bakes bread." })}\n`.repeat(8));
  const run = join(work, "runs", "card");
  const trained = loratune("train", "--model", "ollama:card:q8", "--data", data, "--out", run, "--steps", "2");
  assert.equal(trained.code, 0, trained.stderr);
  const resumed = loratune("train", "--resume", run, "--steps", "3");
  assert.equal(resumed.code, 0, resumed.stderr);
});

test("a missing Ollama model or a manifest without a model layer is one line naming the store and what is there", () => {
  const missing = loratune("generate", "--model", "ollama:nothing", "--prompt", "x");
  assert.equal(missing.code, 1);
  assert.match(
    missing.stderr,
    /^loratune: --model ollama:nothing: no such model in Ollama's store .*store \(pulled there: card:q8; set OLLAMA_MODELS .*ollama pull nothing\)\n$/,
  );

  pull("empty", "latest", join(work, "export", "model.gguf"), [{ mediaType: "application/vnd.ollama.image.license" }]);
  const noLayer = loratune("generate", "--model", "ollama:empty", "--prompt", "x");
  assert.equal(noLayer.code, 1);
  assert.match(noLayer.stderr, /empty\/latest: expected a layer of media type application\/vnd\.ollama\.image\.model/);
});
