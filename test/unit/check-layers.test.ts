/** The floor check of `npm run check` (scripts/check-layers.mjs): passes on src/, fails on an upward import or a cycle. */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { ROOT } from "../helpers/cli.ts";

const SCRIPT = join(ROOT, "scripts", "check-layers.mjs");
const work = mkdtempSync(join(tmpdir(), "lt-layers-"));
after(() => rmSync(work, { recursive: true, force: true }));

const check = (dir?: string) => spawnSync(process.execPath, dir ? [SCRIPT, dir] : [SCRIPT], { encoding: "utf8" });

/** A small src/ tree from {path: source}. */
function tree(name: string, files: Record<string, string>): string {
  const dir = join(work, name);
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(join(dir, path, ".."), { recursive: true });
    writeFileSync(join(dir, path), text);
  }
  return dir;
}

test("src/ keeps every import on its own floor or below", () => {
  const r = check();
  assert.equal(r.status, 0, r.stderr);
});

test("an upward import, an import within one floor, and an unknown folder are each refused", () => {
  const up = check(
    tree("up", { "io/a.ts": 'import { b } from "../model/b.ts";\n', "model/b.ts": "export const b = 1;\n" }),
  );
  assert.equal(up.status, 1);
  assert.match(up.stderr, /io\/a\.ts: imports model\/ \(floor \d+\) from io\//);
  const cycle = check(
    tree("cycle", {
      "report/a.ts": 'export { b } from "../bench/b.ts";\n',
      "bench/b.ts": 'import { a } from "../report/a.ts";\nexport const b = a;\n',
    }),
  );
  assert.equal(cycle.status, 1);
  assert.match(cycle.stderr, /report\/a\.ts: imports bench\//);
  assert.match(cycle.stderr, /bench\/b\.ts: imports report\//);
  const stray = check(tree("stray", { "gpu/a.ts": "export const a = 1;\n" }));
  assert.match(stray.stderr, /folder "gpu" has no floor/);
  const ok = check(
    tree("ok", { "model/a.ts": 'import { t } from "../tensor/t.ts";\n', "tensor/t.ts": "export const t = 1;\n" }),
  );
  assert.equal(ok.status, 0, ok.stderr);
});
