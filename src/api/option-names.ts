/**
 * Options named in the caller's terms. The command line spells an option as its flag (`--seq-len`), a library
 * caller as the property it passed (`seqLen`). Messages are written once, in flags, anywhere below the api
 * (preflight checks, output guards, option bounds); each library function wraps its work in `inCallerTerms`,
 * which rewrites the flags of its option table in the errors it throws (and `callerText` in its warnings) into
 * property names, unless the CLI is the caller: `main()` runs every command inside `asCommandLine`.
 */
import { AsyncLocalStorage } from "node:async_hooks";
import { LoratuneError } from "../errors.ts";
import { camelKey, type OptionDef } from "./options.ts";

const commandLine = new AsyncLocalStorage<true>();

/** Runs `fn` (and everything it awaits) as the command line: messages keep their flags. */
export function asCommandLine<T>(fn: () => T): T {
  return commandLine.run(true, fn);
}

/** Whether the current caller is the command line (else a library caller). */
export function isCommandLine(): boolean {
  return commandLine.getStore() === true;
}

/**
 * The text with each flag of `defs` spelled as the caller knows it: for a library caller `--seq-len 4096`
 * becomes `seqLen 4096`, `--overwrite` becomes `overwrite: true` and `--no-shuffle` becomes `shuffle: false`.
 * Flags of no option in `defs` (`--help`) and the command line's own text stay as they are.
 */
export function callerText(text: string, defs: readonly OptionDef[]): string {
  if (isCommandLine()) return text;
  // A command quoted in the text ("continue it with: loratune train --resume runs/x") keeps its flags.
  return text
    .split(/(\bloratune [a-z]+\b[^;\n)]*)/)
    .map((part, i) => (i % 2 === 1 ? part : renameFlags(part, defs)))
    .join("");
}

/**
 * `--seq-len` → `seqLen`; a switch reads as the value that sets it (`pass --overwrite` → `pass overwrite: true`,
 * `--no-shuffle` → `shuffle: false`) except where the message is about the option itself (`--overwrite: …`).
 */
function renameFlags(text: string, defs: readonly OptionDef[]): string {
  const flags = /--(no-)?([a-z][a-z0-9]*(?:-[a-z0-9]+)*)(:?)/g;
  return text.replace(flags, (flag, no: string | undefined, key: string, colon: string) => {
    const d = defs.find((o) => o.key === key);
    if (!d || (no && !d.negate)) return flag;
    const name = camelKey(key);
    if (colon || d.kind !== "bool") return `${name}${colon}`;
    return `${name}: ${!no}`;
  });
}

/** The error in the caller's terms: a LoratuneError with its flags renamed (same code, the original as cause). */
export function callerError(err: unknown, defs: readonly OptionDef[]): unknown {
  if (!(err instanceof LoratuneError)) return err;
  const message = callerText(err.message, defs);
  return message === err.message ? err : new LoratuneError(err.code, message, { cause: err });
}

/** Runs a library function's work; what it throws names the options of `defs` as the caller does. */
export function inCallerTerms<T>(defs: readonly OptionDef[], fn: () => Promise<T>): Promise<T> {
  return fn().catch((err: unknown) => {
    throw callerError(err, defs);
  });
}
