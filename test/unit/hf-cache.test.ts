/**
 * `--model org/name` in the local Hugging Face cache (src/io/hf-cache.ts): the cache roots in their order, refs/main
 * or a --revision (branch, tag or commit hash), snapshots whose files are relative symlinks into blobs/ as the hub
 * makes them, a local path winning over a cache id, and the not-found message (every place looked at, and the
 * download command; loratune never downloads).
 */
import assert from "node:assert/strict";
import { lstatSync, mkdirSync, mkdtempSync, readFileSync, readlinkSync, rmSync } from "node:fs";
import { homedir, tmpdir } from "node:os";
import { isAbsolute, join } from "node:path";
import { after, test } from "node:test";
import { isLoratuneError } from "../../src/errors.ts";
import { hubCacheRoots, isHubCacheId, isHubRepoId, resolveHubSnapshot } from "../../src/io/hf-cache.ts";
import { DEMO_MODEL_DIR, resolveModelDir } from "../../src/model/load.ts";
import { addSnapshot, fakeCommit, modelFiles } from "../helpers/hf-cache.ts";

const work = mkdtempSync(join(tmpdir(), "loratune-hf-cache-"));
after(() => rmSync(work, { recursive: true, force: true }));
const files = modelFiles(DEMO_MODEL_DIR, ["config.json", "tokenizer.json"]);
const v1 = fakeCommit("v1");
const v2 = fakeCommit("v2");

test("cache roots: HF_HUB_CACHE, then HF_HOME/hub, then XDG_CACHE_HOME and ~/.cache/huggingface/hub", () => {
  const home = join(homedir(), ".cache", "huggingface", "hub");
  assert.deepEqual(hubCacheRoots({}), [home]);
  assert.deepEqual(hubCacheRoots({ HF_HUB_CACHE: "/a", HF_HOME: "/b", XDG_CACHE_HOME: "/c" }), [
    "/a",
    "/b/hub",
    "/c/huggingface/hub",
    home,
  ]);
  assert.deepEqual(hubCacheRoots({ HF_HUB_CACHE: "/b/hub", HF_HOME: "/b" }), ["/b/hub", home]);
});

test("a repository id is org/name; paths and other names are not", () => {
  for (const id of ["meta-llama/Llama-3.2-1B", "Qwen/Qwen2.5-0.5B-Instruct", "a_b/c.d"]) assert.ok(isHubRepoId(id), id);
  for (const p of ["demo", "./org/name", "/abs/x", "a/b/c", "org/..", "../x", "ollama:x/y", "org/", "x.gguf"])
    assert.ok(!isHubRepoId(p), p);
});

test("refs/main, a branch or tag, and a commit hash each resolve to their snapshot of symlinked blobs", () => {
  const root = join(work, "refs");
  const s1 = addSnapshot(root, "org/tiny", v1, files, ["main"]);
  const s2 = addSnapshot(root, "org/tiny", v2, files, ["v2.0", "dev"]);
  const env = { HF_HUB_CACHE: root };
  assert.equal(resolveHubSnapshot("org/tiny", undefined, env), s1);
  assert.equal(resolveHubSnapshot("org/tiny", "main", env), s1);
  assert.equal(resolveHubSnapshot("org/tiny", "v2.0", env), s2);
  assert.equal(resolveHubSnapshot("org/tiny", "dev", env), s2);
  assert.equal(resolveHubSnapshot("org/tiny", v2, env), s2);
  // The snapshot's files are relative links into blobs/, read through as the files themselves.
  const link = join(s2, "config.json");
  assert.ok(lstatSync(link).isSymbolicLink());
  assert.ok(!isAbsolute(readlinkSync(link)));
  assert.match(readlinkSync(link), /^\.\.\/\.\.\/blobs\/[0-9a-f]{64}$/);
  assert.equal(readFileSync(link, "utf8"), readFileSync(files["config.json"]!, "utf8"));
});

test("the first cache root that holds the model wins", () => {
  const hubCache = join(work, "order", "hub-cache");
  const hfHome = join(work, "order", "hf-home");
  const inHome = addSnapshot(join(hfHome, "hub"), "org/m", v1, files, ["main"]);
  const env = { HF_HUB_CACHE: hubCache, HF_HOME: hfHome };
  assert.equal(resolveHubSnapshot("org/m", "main", env), inHome, "not in HF_HUB_CACHE: HF_HOME/hub");
  const inHubCache = addSnapshot(hubCache, "org/m", v2, files, ["main"]);
  assert.equal(resolveHubSnapshot("org/m", "main", env), inHubCache, "in both: HF_HUB_CACHE first");
});

test("not found: the error lists every place looked at and the download command", () => {
  const root = join(work, "missing");
  addSnapshot(root, "org/have", v1, files, ["main"]);
  const env = { HF_HUB_CACHE: root, HF_HOME: join(work, "nohome") };
  const expectError = (id: string, revision: string | undefined, patterns: RegExp[]) =>
    assert.throws(
      () => resolveHubSnapshot(id, revision, env),
      (e) => {
        assert.ok(isLoratuneError(e) && e.code === "ERR_IO");
        for (const p of patterns) assert.match(e.message, p);
        return true;
      },
    );
  const esc = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  expectError("org/absent", undefined, [
    new RegExp(esc(join(root, "models--org--absent"))),
    new RegExp(esc(join(work, "nohome", "hub", "models--org--absent"))),
    new RegExp(esc(join(homedir(), ".cache", "huggingface", "hub"))),
    /huggingface-cli download org\/absent/,
    /hf download org\/absent/,
    /never downloads/,
  ]);
  expectError("org/have", "v9", [
    new RegExp(esc(join(root, "models--org--have", "refs", "v9"))),
    /no such ref/,
    /huggingface-cli download org\/have --revision v9/,
  ]);
  expectError("org/have", v2, [new RegExp(esc(join(root, "models--org--have", "snapshots", v2))), /no such snapshot/]);
});

test("a local path wins over a cache id; --revision with a path (or demo) is a usage error", () => {
  const cwd = process.cwd();
  const base = join(work, "local");
  mkdirSync(join(base, "org", "local"), { recursive: true });
  assert.ok(!isHubCacheId("org/local", base), "exists relative to base: a path");
  assert.ok(isHubCacheId("org/elsewhere", base));
  process.chdir(base);
  try {
    assert.equal(resolveModelDir("org/local"), "org/local");
    for (const model of ["org/local", "demo", DEMO_MODEL_DIR]) {
      assert.throws(
        () => resolveModelDir(model, "main"),
        (e) => isLoratuneError(e) && e.code === "ERR_USAGE" && /--revision main picks a snapshot/.test(e.message),
        model,
      );
    }
  } finally {
    process.chdir(cwd);
  }
});
