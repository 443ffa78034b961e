#!/usr/bin/env node
// npm test: runs every test/**/*.test.ts with node's test runner (Node 20 has no glob support in --test).
import { spawnSync } from "node:child_process";
import { readdirSync } from "node:fs";
import { join, relative } from "node:path";

const root = join(import.meta.dirname, "..");
const files = readdirSync(join(root, "test"), { recursive: true })
  .map(String)
  .filter((f) => f.endsWith(".test.ts"))
  .map((f) => relative(root, join(root, "test", f)))
  .sort();
const filter = process.argv.slice(2);
const selected = filter.length ? files.filter((f) => filter.some((p) => f.includes(p))) : files;
const r = spawnSync(process.execPath, ["--import", "tsx", "--test", "--test-reporter=spec", ...selected], {
  cwd: root,
  stdio: "inherit",
});
process.exit(r.status ?? 1);
