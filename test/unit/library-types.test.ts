/**
 * The library's options interfaces follow the option tables, the one definition the CLI's flags and config
 * files come from: every option of a table (bar the command line's own, like --json) is a property named as
 * its camelCase key, required exactly when the table says so, of the type its kind gives (the choices all
 * accepted), with a doc comment whose `@defaultValue` is the table's default. Read with TypeScript's checker,
 * so a default changed in a table, or an option added to one, fails here until its doc comment follows.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { test } from "node:test";
import ts from "typescript";
import { EVAL_DEFAULTS, EVAL_OPTIONS } from "../../src/api/evaluate.ts";
import { GENERATE_DEFAULTS, GENERATE_OPTIONS } from "../../src/api/generate.ts";
import { MERGE_DEFAULTS, MERGE_OPTIONS } from "../../src/api/merge.ts";
import { LOAD_OPTIONS } from "../../src/api/models.ts";
import { camelKey, type OptionDef } from "../../src/api/options.ts";
import { TRAIN_DEFAULTS, TRAIN_OPTIONS } from "../../src/api/train-options.ts";
import { SWEEP_DEFAULTS, SWEEP_OPTIONS } from "../../src/sweep/options.ts";
import { ADAMW_DEFAULTS } from "../../src/train/adamw.ts";
import { ROOT } from "../helpers/cli.ts";

interface Case {
  iface: string;
  file: string;
  table: readonly OptionDef[];
  /** Properties that are not options of the table (callbacks, the signal, settings without a flag). */
  extras: string[];
}

const CASES: Case[] = [
  {
    iface: "TrainOptions",
    file: "src/api/train-types.ts",
    table: TRAIN_OPTIONS,
    extras: ["beta1", "beta2", "adamEps", "signal", "onEvent", "onSummary", "onMessage"],
  },
  { iface: "EvaluateOptions", file: "src/api/evaluate.ts", table: EVAL_OPTIONS, extras: ["onProgress", "signal"] },
  { iface: "GenerateOptions", file: "src/api/generate.ts", table: GENERATE_OPTIONS, extras: ["signal"] },
  { iface: "MergeOptions", file: "src/api/merge.ts", table: MERGE_OPTIONS, extras: [] },
  // The shared train options come from TrainOptions (Omit): their documentation is train's.
  { iface: "SweepOptions", file: "src/sweep/options.ts", table: SWEEP_OPTIONS, extras: [] },
  // loadModel(model, options): the model is its first argument.
  {
    iface: "LoadModelOptions",
    file: "src/api/models.ts",
    table: LOAD_OPTIONS.filter((d) => d.key !== "model"),
    extras: [],
  },
];

const program = ts.createProgram(
  CASES.map((c) => join(ROOT, c.file)),
  { strict: true, allowImportingTsExtensions: true, noEmit: true, module: ts.ModuleKind.NodeNext, skipLibCheck: true },
);
const checker = program.getTypeChecker();

function interfaceOf(c: Case): ts.InterfaceDeclaration {
  const source = program.getSourceFile(join(ROOT, c.file));
  assert.ok(source, c.file);
  const found = source.statements.find(
    (s): s is ts.InterfaceDeclaration => ts.isInterfaceDeclaration(s) && s.name.text === c.iface,
  );
  assert.ok(found, `${c.file} declares ${c.iface}`);
  return found;
}

/** What is wrong with a property's type for the option's kind, or null. */
function typeProblem(d: OptionDef, type: ts.Type): string | null {
  const parts = type.isUnion() ? type.types : [type];
  const text = checker.typeToString(type);
  switch (d.kind) {
    case "int":
    case "number":
      return text === "number" ? null : `a number, not ${text}`;
    case "bool":
      return text === "boolean" ? null : `a boolean, not ${text}`;
    case "ints":
      return text === "number[]" ? null : `number[], not ${text}`;
    case "choice": {
      const literals = parts.map((p) => (p.isStringLiteral() ? p.value : null));
      if (literals.includes(null)) return `a union of string literals, not ${text}`;
      const missing = (d.choices ?? []).filter((ch) => !literals.includes(ch));
      return missing.length === 0 ? null : `${text} lacks ${missing.join(", ")}`;
    }
    default:
      return parts.some((p) => p.flags & ts.TypeFlags.String) ? null : `a string, not ${text}`;
  }
}

for (const c of CASES) {
  test(`${c.iface} is ${c.table === TRAIN_OPTIONS ? "TRAIN_OPTIONS" : "its option table"}, documented`, () => {
    const decl = interfaceOf(c);
    const props = new Map(
      checker
        .getTypeAtLocation(decl)
        .getProperties()
        .map((p) => [p.name, p]),
    );
    const options = c.table.filter((d) => !d.cliOnly);
    const problems: string[] = [];
    for (const d of options) {
      const name = camelKey(d.key);
      const p = props.get(name);
      if (!p) {
        problems.push(`${name}: missing (option --${d.key})`);
        continue;
      }
      const optional = (p.flags & ts.SymbolFlags.Optional) !== 0;
      if (optional === Boolean(d.required))
        problems.push(`${name}: ${d.required ? "required" : "optional"} in the table`);
      const doc = ts.displayPartsToString(p.getDocumentationComment(checker)).trim();
      if (doc === "") problems.push(`${name}: no doc comment`);
      const tag = p.getJsDocTags(checker).find((t) => t.name === "defaultValue");
      const documented = tag ? ts.displayPartsToString(tag.text).trim() : undefined;
      const expected = d.default === undefined ? undefined : JSON.stringify(d.default);
      if (documented !== expected)
        problems.push(`${name}: @defaultValue ${documented} where the table has ${expected}`);
      const type = checker.getNonNullableType(checker.getTypeOfSymbolAtLocation(p, decl));
      const wrong = typeProblem(d, type);
      if (wrong) problems.push(`${name}: should be ${wrong}`);
    }
    const known = new Set([...options.map((d) => camelKey(d.key)), ...c.extras]);
    for (const name of props.keys()) if (!known.has(name)) problems.push(`${name}: not an option of the table`);
    for (const name of c.extras) {
      const p = props.get(name);
      if (p && ts.displayPartsToString(p.getDocumentationComment(checker)).trim() === "")
        problems.push(`${name}: no doc comment`);
    }
    assert.deepEqual(problems, []);
  });
}

test("the exported defaults are the tables' (and AdamW's), by library name", () => {
  const byName = (table: readonly OptionDef[]) =>
    Object.fromEntries(
      table.filter((d) => d.default !== undefined && !d.cliOnly).map((d) => [camelKey(d.key), d.default]),
    );
  assert.deepEqual(
    { ...TRAIN_DEFAULTS },
    {
      ...byName(TRAIN_OPTIONS),
      beta1: ADAMW_DEFAULTS.beta1,
      beta2: ADAMW_DEFAULTS.beta2,
      adamEps: ADAMW_DEFAULTS.eps,
    },
  );
  assert.equal(TRAIN_DEFAULTS.seqLen, 512);
  assert.equal(TRAIN_DEFAULTS.lr, 2e-4);
  assert.deepEqual({ ...EVAL_DEFAULTS }, byName(EVAL_OPTIONS));
  assert.deepEqual({ ...GENERATE_DEFAULTS }, byName(GENERATE_OPTIONS));
  assert.equal(GENERATE_DEFAULTS.maxTokens, 64);
  assert.deepEqual({ ...MERGE_DEFAULTS }, { overwrite: false });
  assert.deepEqual({ ...SWEEP_DEFAULTS }, byName(SWEEP_OPTIONS));
  assert.equal(SWEEP_DEFAULTS.strategy, "asha");
  assert.equal(SWEEP_DEFAULTS.batchSize, TRAIN_DEFAULTS.batchSize, "shared train options keep train's defaults");
  assert.ok(!("json" in TRAIN_DEFAULTS), "the command line's own options are not the library's");
  assert.ok(Object.isFrozen(TRAIN_DEFAULTS));
});
