/**
 * The rules every command that writes a directory follows before it touches anything:
 *  - the output is never the current directory, an input (--data, --model, --adapter, …), a directory that holds
 *    an input, or a parent of any of these;
 *  - an existing non-empty output is refused, and with `--overwrite` only replaced when loratune wrote it (its
 *    `loratune.json` marker names one of the kinds the command may replace);
 *  - nothing is removed here: callers replace the directory only after every input was read and validated.
 */
import { existsSync, readdirSync, realpathSync, statSync } from "node:fs";
import { basename, dirname, isAbsolute, relative, resolve } from "node:path";
import { LoratuneError } from "../errors.ts";
import { MARKER_FILE, type OutputKind, readMarker } from "./run-marker.ts";

/** One input of the command: the flag it came from and its path. */
export interface NamedInput {
  flag: string;
  path: string;
}

export interface OutputCheck {
  /** The output directory as given (messages quote it). */
  out: string;
  /** The flag that named it (for messages), e.g. "--out". */
  flag?: string;
  inputs: NamedInput[];
  overwrite: boolean;
  /** Marker kinds `--overwrite` may replace. */
  replaceable: readonly OutputKind[];
}

/** What the caller will find at the output: nothing yet, or a loratune directory it may replace. */
export type OutputState = "new" | "replace";

/** The canonical absolute path, following symlinks of the part that exists. */
export function canonicalPath(path: string): string {
  const abs = resolve(path);
  if (existsSync(abs)) return realpathSync(abs);
  const parent = dirname(abs);
  return parent === abs ? abs : resolve(canonicalPath(parent), basename(abs));
}

/** True when `inner` is `outer` or lies inside it (both canonical). */
export function isInside(inner: string, outer: string): boolean {
  const rel = relative(outer, inner);
  return rel === "" || (!rel.startsWith("..") && !isAbsolute(rel));
}

/** Applies the rules above; throws a LoratuneError naming the output, the input and the flag. */
export function checkOutputDir(c: OutputCheck): OutputState {
  const flag = c.flag ?? "--out";
  const out = canonicalPath(c.out);
  const cwd = canonicalPath(process.cwd());
  if (isInside(cwd, out)) {
    throw new LoratuneError(
      "ERR_OUTPUT_EXISTS",
      `${flag} ${c.out} is the current directory or one of its parents; choose a new directory for the output`,
    );
  }
  for (const input of c.inputs) {
    const p = canonicalPath(input.path);
    if (isInside(p, out)) {
      const what = p === out ? "is" : "holds";
      throw new LoratuneError(
        "ERR_OUTPUT_EXISTS",
        `${flag} ${c.out} ${what} the ${input.flag} input ${input.path}; write the output somewhere else`,
      );
    }
  }
  if (!existsSync(out)) return "new";
  if (!statSync(out).isDirectory())
    throw new LoratuneError("ERR_OUTPUT_EXISTS", `${flag} ${c.out} exists and is not a directory`);
  if (readdirSync(out).length === 0) return "new";
  const marker = readMarker(out);
  if (!c.overwrite) {
    const hint = marker ? "pass --overwrite to replace it" : "choose another directory";
    throw new LoratuneError("ERR_OUTPUT_EXISTS", `${flag} ${c.out} already exists and is not empty (${hint})`);
  }
  if (!marker) {
    throw new LoratuneError(
      "ERR_OUTPUT_EXISTS",
      `${flag} ${c.out} is not a directory loratune wrote (no ${MARKER_FILE}), so loratune will not replace it; remove it yourself or choose another directory`,
    );
  }
  if (!c.replaceable.includes(marker.kind)) {
    throw new LoratuneError(
      "ERR_OUTPUT_EXISTS",
      `${flag} ${c.out} holds a loratune ${marker.kind} output, which this command does not replace (it replaces: ${c.replaceable.join(", ")}); choose another directory`,
    );
  }
  return "replace";
}
