/**
 * The local Hugging Face hub cache, read-only: `--model org/name` names a snapshot the hub's tools downloaded.
 * loratune never downloads; a model that is not there is an error that says where it looked and how to fetch it.
 *
 * Layout (as huggingface_hub writes it), under a cache root:
 *   models--org--name/refs/<branch or tag>   a text file holding a 40-hex commit hash (refs/main by default)
 *   models--org--name/snapshots/<hash>/...   the repository's files at that commit, each a relative symlink
 *   models--org--name/blobs/<sha>            the files' contents, shared between snapshots
 * The cache root is $HF_HUB_CACHE, else $HF_HOME/hub, else $XDG_CACHE_HOME/huggingface/hub, else
 * ~/.cache/huggingface/hub; every one of them that is set is searched, in that order.
 */
import { existsSync, readFileSync, statSync } from "node:fs";
import { homedir } from "node:os";
import { join, resolve } from "node:path";
import { LoratuneError } from "../errors.ts";

/** A hub repository id as `--model` takes it: exactly "org/name" (letters, digits, ".", "_", "-"). */
const REPO_ID = /^[A-Za-z0-9][\w.-]*\/[A-Za-z0-9][\w.-]*$/;
/** A full commit hash: snapshots are named by it. */
const COMMIT = /^[0-9a-f]{40}$/;

/** Whether `value` reads as a hub repository id (org/name), not as a path. */
export function isHubRepoId(value: string): boolean {
  return REPO_ID.test(value) && !value.includes("..");
}

/**
 * Whether a --model value names a model in the cache: it reads as org/name and no such path exists (relative
 * to `base`, default the working directory). A local path always wins over a cache id.
 */
export function isHubCacheId(value: string, base = "."): boolean {
  return isHubRepoId(value) && !existsSync(resolve(base, value));
}

/** The cache roots to search, in order, without repeats: HF_HUB_CACHE, HF_HOME/hub, then the default. */
export function hubCacheRoots(env: NodeJS.ProcessEnv = process.env): string[] {
  const roots: string[] = [];
  if (env.HF_HUB_CACHE) roots.push(env.HF_HUB_CACHE);
  if (env.HF_HOME) roots.push(join(env.HF_HOME, "hub"));
  if (env.XDG_CACHE_HOME) roots.push(join(env.XDG_CACHE_HOME, "huggingface", "hub"));
  roots.push(join(homedir(), ".cache", "huggingface", "hub"));
  return [...new Set(roots)];
}

/** The folder of a repository in a cache root: models--org--name. */
export function repoFolder(root: string, repoId: string): string {
  return join(root, `models--${repoId.replace("/", "--")}`);
}

/** A snapshot found, or why a cache root did not have it. */
type Lookup = { dir: string } | { miss: string };

/** Looks `repoId` at `revision` (a branch or tag name, or a commit hash) up in one cache root. */
function lookUp(root: string, repoId: string, revision: string): Lookup {
  const repo = repoFolder(root, repoId);
  if (!existsSync(repo)) return { miss: `${repo} (not there)` };
  let commit = revision;
  if (!COMMIT.test(revision)) {
    const ref = join(repo, "refs", revision);
    if (!existsSync(ref) || !statSync(ref).isFile()) return { miss: `${ref} (no such ref)` };
    commit = readFileSync(ref, "utf8").trim();
    if (!COMMIT.test(commit)) return { miss: `${ref} (expected a 40-hex commit hash, got ${JSON.stringify(commit)})` };
  }
  const dir = join(repo, "snapshots", commit);
  if (!existsSync(dir)) return { miss: `${dir} (no such snapshot)` };
  return { dir };
}

/**
 * The snapshot directory of `repoId` at `revision` (default "main") in the first cache root that has it.
 * Throws ERR_IO listing every place looked at and the command that downloads the model.
 */
export function resolveHubSnapshot(repoId: string, revision = "main", env: NodeJS.ProcessEnv = process.env): string {
  const misses: string[] = [];
  for (const root of hubCacheRoots(env)) {
    const found = lookUp(root, repoId, revision);
    if ("dir" in found) return found.dir;
    misses.push(found.miss);
  }
  const rev = revision === "main" ? "" : ` --revision ${revision}`;
  throw new LoratuneError(
    "ERR_IO",
    `--model ${repoId}: not a local path, and not in the Hugging Face cache${rev ? ` at revision ${revision}` : ""}. ` +
      `Looked at:\n  ./${repoId} (no such file or directory)\n  ${misses.join("\n  ")}\n` +
      `loratune never downloads; fetch it with: huggingface-cli download ${repoId}${rev} (or: hf download ${repoId}${rev}), ` +
      "or set HF_HUB_CACHE / HF_HOME to the cache that holds it",
  );
}
