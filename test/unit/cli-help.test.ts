/**
 * One help style: "(default: X)" (unquoted), "(required)", every missing required option in one usage error,
 * the LORATUNE_* environment variables in the top-level help, and strict value parsers naming the flag.
 */
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import type { Command } from "commander";
import { buildProgram, ENVIRONMENT_HELP } from "../../src/cli/main.ts";
import { missingOptionsError } from "../../src/cli/options.ts";
import { parseChoice, parseIdList, parseInteger, parseNumberIn } from "../../src/cli/parse.ts";
import { isLoratuneError } from "../../src/errors.ts";

const ROOT = join(import.meta.dirname, "..", "..");
const MINE = ["eval", "generate", "merge", "inspect", "bench", "demo", "ui"];

function command(name: string): Command {
  const cmd = buildProgram().commands.find((c) => c.name() === name);
  assert.ok(cmd, name);
  return cmd;
}

/** Help text with lines unwrapped (commander wraps descriptions at the terminal width). */
const help = (name: string) =>
  command(name)
    .helpInformation()
    .replace(/\n\s{10,}/g, " ");

test("defaults read (default: X) without quotes or brackets, and only that way", () => {
  for (const name of MINE) {
    const text = help(name);
    assert.doesNotMatch(text, /\(default: ["[]/, `${name}: a quoted or bracketed default`);
    assert.doesNotMatch(text, /[;,] default |default per /, `${name}: a default outside the (default: X) style`);
    assert.doesNotMatch(text, /\(default: true\)|\(default: false\)/, `${name}: a boolean flag shows a default`);
  }
  assert.match(
    help("generate"),
    /--dtype <name> +in-memory dtype of the base weights: f32 or bf16 or f16 \(default: f32\)/,
  );
  assert.match(help("generate"), /--top-p <p> +nucleus sampling threshold in \(0, 1\] \(1 = off\) \(default: 1\)/);
  assert.match(help("demo"), /--ranks <list> +LoRA ranks for --compare and --sweep \(default: 4,16,64\)/);
  assert.match(help("bench"), /--threads <n> .*\(default: every core\)/);
});

test("required options are marked (required)", () => {
  const required: Record<string, string[]> = {
    eval: ["--model <dir>", "--data <file>"],
    generate: ["--model <dir>"],
    merge: ["--model <dir>", "--adapter <dir>", "--out <dir>"],
  };
  for (const [name, flags] of Object.entries(required)) {
    const text = help(name);
    for (const flag of flags) assert.match(text, new RegExp(`${flag} .*\\(required\\)`), `${name} ${flag}`);
    assert.equal(text.match(/\(required\)/g)?.length, flags.length, `${name}: only the required ones`);
  }
});

test("every missing required option is named in one usage error", async () => {
  const attempt = async (...args: string[]) => {
    const program = buildProgram();
    program.configureOutput({ writeErr: () => {}, writeOut: () => {} });
    try {
      await program.parseAsync(["node", "loratune", ...args]);
    } catch (err) {
      return err;
    }
    return null;
  };
  const merge = await attempt("merge");
  assert.ok(isLoratuneError(merge));
  assert.equal(merge.exitCode, 2);
  assert.equal(
    merge.message,
    "merge: missing required options --model <dir>, --adapter <dir> and --out <dir>; see loratune merge --help",
  );
  const evalOne = await attempt("eval", "--model", "demo");
  assert.ok(isLoratuneError(evalOne));
  assert.match(evalOne.message, /^eval: missing required option --data <file>;/);
  assert.equal(
    missingOptionsError("train", ["--model <dir>", "--data <file>"], "on the command line or in --config").message,
    "train: missing required options --model <dir> and --data <file> (on the command line or in --config); see loratune train --help",
  );
});

/** LORATUNE_* names read by the source and the install scripts (test-only ones are LORATUNE_TEST_*). */
function environmentVariables(): string[] {
  const names = new Set<string>();
  for (const dir of ["src", "scripts", "bin"]) {
    for (const f of readdirSync(join(ROOT, dir), { recursive: true }).map(String)) {
      if (!/\.(ts|mjs|js)$/.test(f)) continue;
      for (const m of readFileSync(join(ROOT, dir, f), "utf8").matchAll(/LORATUNE_[A-Z0-9_]+/g)) names.add(m[0]);
    }
  }
  return [...names].filter((n) => !n.startsWith("LORATUNE_TEST_")).sort();
}

test("the top-level help lists every LORATUNE_* environment variable", () => {
  const vars = environmentVariables();
  assert.ok(vars.length >= 4, vars.join(", "));
  for (const v of vars) assert.ok(ENVIRONMENT_HELP.includes(v), `${v} is missing from loratune --help`);
  for (const v of ["LORATUNE_BACKEND", "LORATUNE_ISA", "LORATUNE_THREADS", "LORATUNE_SKIP_NATIVE_BUILD"]) {
    assert.ok(vars.includes(v), v);
  }
});

test("value parsers: bounds in interval notation, integers, choices, token ids", () => {
  const usage = (fn: () => unknown, message: string) =>
    assert.throws(fn, (e: Error & { code?: string }) => e.code === "ERR_USAGE" && e.message === message);
  const topP = parseNumberIn("--top-p", { lo: 0, hi: 1, loOpen: true });
  assert.equal(topP("1"), 1);
  assert.equal(topP("0.01"), 0.01);
  usage(() => topP("0"), '--top-p: expected a number in (0, 1], got "0"');
  usage(() => topP("1.5"), '--top-p: expected a number in (0, 1], got "1.5"');
  usage(() => topP("nan"), '--top-p: expected a number in (0, 1], got "nan"');
  const penalty = parseNumberIn("--repetition-penalty", { lo: 0, loOpen: true });
  usage(() => penalty("0"), '--repetition-penalty: expected a number > 0, got "0"');
  assert.equal(penalty("1.3"), 1.3);
  usage(() => parseNumberIn("--temperature", { lo: 0 })("-0.5"), '--temperature: expected a number ≥ 0, got "-0.5"');
  usage(() => parseInteger("--top-k", 0)("-1"), '--top-k: expected an integer ≥ 0, got "-1"');
  usage(() => parseInteger("--max-tokens", 1)("2.5"), '--max-tokens: expected an integer ≥ 1, got "2.5"');
  usage(() => parseInteger("--seed", 0)("1e300"), '--seed: expected an integer ≥ 0, got "1e300"');
  usage(() => parseChoice("--dtype", ["f32", "bf16"])("f16"), '--dtype: expected f32 or bf16, got "f16"');
  usage(() => parseChoice("--x", ["a", "b", "c"])("d"), '--x: expected one of a, b or c, got "d"');
  usage(() => parseIdList("--prompt-ids")("1,,2"), '--prompt-ids: "" is not a token id');
  assert.deepEqual(parseIdList("--prompt-ids")("1, 2,3"), [1, 2, 3]);
});
