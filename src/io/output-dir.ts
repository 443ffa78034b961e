/**
 * Writing a whole output directory safely: files go into a fresh temporary sibling directory, which is renamed
 * into place only when complete. An existing non-empty directory is refused unless `overwrite` is set, and then
 * replaced only after the new one is complete.
 */
import { existsSync, mkdirSync, readdirSync, renameSync, rmSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { LoratuneError } from "../errors.ts";

function isNonEmptyDir(path: string): boolean {
  return existsSync(path) && readdirSync(path).length > 0;
}

/** Calls `write(tmpDir)` and moves the result to `dir`. */
export function writeDirAtomic(dir: string, overwrite: boolean, write: (tmpDir: string) => void): void {
  if (isNonEmptyDir(dir) && !overwrite) {
    throw new LoratuneError(
      "ERR_OUTPUT_EXISTS",
      `${dir} already exists and is not empty (pass --overwrite to replace it)`,
    );
  }
  mkdirSync(dirname(dir), { recursive: true });
  const tmp = join(dirname(dir), `.${basename(dir)}.tmp-${process.pid}`);
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp);
  try {
    write(tmp);
  } catch (err) {
    rmSync(tmp, { recursive: true, force: true });
    throw err;
  }
  if (existsSync(dir)) {
    const old = oldName(dir);
    renameSync(dir, old);
    renameSync(tmp, dir);
    rmSync(old, { recursive: true, force: true });
  } else {
    renameSync(tmp, dir);
  }
}

/** Where a directory being replaced or removed is moved first: a hidden sibling no listing takes for the real one. */
function oldName(dir: string): string {
  return join(dirname(dir), `.${basename(dir)}.old-${process.pid}`);
}

/**
 * Removes `dir` (if present) so that no moment leaves it half-deleted under its own name: it is renamed to a hidden
 * sibling first, then deleted. A process killed mid-delete leaves only that sibling (its files partly gone), never
 * a directory that still looks complete under its name while missing files.
 */
export function removeDirAtomic(dir: string): void {
  if (!existsSync(dir)) return;
  const old = oldName(dir);
  rmSync(old, { recursive: true, force: true });
  renameSync(dir, old);
  rmSync(old, { recursive: true, force: true });
}
