/**
 * The README's library example (the code block after `<!-- library example -->`) as a user's own file: it
 * type-checks under `tsc --strict --module nodenext` and runs as written, in a fresh folder, with the package name
 * `loratune` mapped to this checkout's src/index.ts (tsconfig `paths`, which tsc and tsx both follow). The
 * compiled package itself is test/e2e/package.test.ts's.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { ROOT } from "../helpers/cli.ts";

function libraryExample(): string {
  const readme = readFileSync(join(ROOT, "README.md"), "utf8");
  const m = /<!-- library example -->\n```ts\n([\s\S]*?)\n```/.exec(readme);
  assert.ok(m, "README has a library example");
  return m[1]!;
}

const app = mkdtempSync(join(tmpdir(), "lt-library-readme-"));
after(() => rmSync(app, { recursive: true, force: true }));

/** A user's project: ESM, and "loratune" resolving to the sources. */
function writeApp(code: string): void {
  writeFileSync(join(app, "package.json"), `${JSON.stringify({ type: "module", private: true })}\n`);
  const compilerOptions = {
    strict: true,
    module: "nodenext",
    moduleResolution: "nodenext",
    target: "es2022",
    noEmit: true,
    skipLibCheck: true,
    // The sources import each other with .ts extensions.
    allowImportingTsExtensions: true,
    types: ["node"],
    typeRoots: [join(ROOT, "node_modules", "@types")],
    paths: { loratune: [join(ROOT, "src", "index.ts")] },
  };
  writeFileSync(join(app, "tsconfig.json"), `${JSON.stringify({ compilerOptions, files: ["example.ts"] }, null, 2)}\n`);
  writeFileSync(join(app, "example.ts"), `${code}\n`);
}

test("the README's library example type-checks strictly and runs as written", () => {
  const code = libraryExample();
  assert.match(code, /from "loratune"/);
  writeApp(code);
  const tsc = spawnSync(process.execPath, [join(ROOT, "node_modules", "typescript", "bin", "tsc"), "-p", app], {
    cwd: app,
    encoding: "utf8",
  });
  assert.equal(tsc.status, 0, `tsc:\n${tsc.stdout}\n${tsc.stderr}`);

  const tsx = join(ROOT, "node_modules", "tsx", "dist", "loader.mjs");
  const r = spawnSync(process.execPath, ["--import", tsx, "example.ts"], { cwd: app, encoding: "utf8" });
  assert.equal(r.status, 0, `${r.stdout}\n${r.stderr}`);
  assert.match(r.stdout, /^step 10\/40 {2}loss \d+\.\d{3}$/m);
  assert.match(r.stdout, /^completed after 40 steps: adapter in runs\/cards$/m);
  // The streamed answer, the last line: the adapter learned the card (greedy decoding; all fields of it).
  const answer = r.stdout.trimEnd().split("\n").at(-1)!;
  assert.match(answer, /^name: Lila, job: farmer, town: Bellcross, item: scarf/);
  assert.ok(existsSync(join(app, "runs", "cards", "adapter_model.safetensors")));
});

test("a type error in the example's style is caught (the check is not vacuous)", () => {
  writeApp(
    'import { train } from "loratune";\nawait train({ model: "demo", data: "x.jsonl", out: "o", seqLen: "512" });',
  );
  const tsc = spawnSync(process.execPath, [join(ROOT, "node_modules", "typescript", "bin", "tsc"), "-p", app], {
    cwd: app,
    encoding: "utf8",
  });
  assert.notEqual(tsc.status, 0);
  // Column 57 is seqLen's value: the options are typed from the sources, not `any`.
  assert.match(tsc.stdout, /example\.ts\(2,57\): error TS2322: Type 'string' is not assignable to type 'number'/);
});
