/**
 * A Hugging Face hub cache made by the tests, laid out as huggingface_hub lays it out: under a cache root,
 * models--org--name/blobs/<sha256 of the content>, snapshots/<commit>/<file> as a *relative* symlink
 * (../../blobs/<sha>), and refs/<branch or tag> holding the commit hash.
 */
import { createHash } from "node:crypto";
import { copyFileSync, existsSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { dirname, join, relative } from "node:path";

/** A 40-hex commit hash derived from `seed` (snapshots are named by it). */
export const fakeCommit = (seed: string): string => createHash("sha1").update(seed).digest("hex");

/**
 * Adds a snapshot of repository `repoId` under cache root `root`: each file of `files` (name in the repository ->
 * file to copy) becomes a blob linked from snapshots/<commit>/, and each of `refs` points at the commit.
 * Returns the snapshot directory.
 */
export function addSnapshot(
  root: string,
  repoId: string,
  commit: string,
  files: Record<string, string>,
  refs: string[] = [],
): string {
  const repo = join(root, `models--${repoId.replace("/", "--")}`);
  const snapshot = join(repo, "snapshots", commit);
  mkdirSync(join(repo, "blobs"), { recursive: true });
  for (const [name, source] of Object.entries(files)) {
    const sha = createHash("sha256").update(readFileSync(source)).digest("hex");
    const blob = join(repo, "blobs", sha);
    if (!existsSync(blob)) copyFileSync(source, blob);
    const link = join(snapshot, name);
    mkdirSync(dirname(link), { recursive: true });
    symlinkSync(relative(dirname(link), blob), link);
  }
  for (const ref of refs) {
    mkdirSync(dirname(join(repo, "refs", ref)), { recursive: true });
    writeFileSync(join(repo, "refs", ref), commit);
  }
  return snapshot;
}

/** The files of a model directory, for addSnapshot: every plain file at its top level. */
export function modelFiles(dir: string, names: string[]): Record<string, string> {
  return Object.fromEntries(names.map((n) => [n, join(dir, n)]));
}
