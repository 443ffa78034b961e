#!/usr/bin/env node
// npm run check: the folders of src/ are floors, and code imports only from its own floor or below (never a
// folder above it, never a cycle between folders). docs/architecture.md explains the floors.
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, normalize, relative, sep } from "node:path";

/** Lowest first. Folders on one line are one floor and may not import each other. */
const FLOORS = [
  ["errors.ts", "util"],
  ["tensor"],
  ["kernels"],
  ["io"],
  ["gguf"],
  ["tokenizer"],
  ["nn"],
  ["model"],
  ["lora"],
  ["data"],
  ["train"],
  ["webgpu"],
  ["report", "bench"],
  ["api"],
  ["sweep"],
  ["inspect", "demo", "ui"],
  ["web"],
  ["cli"],
  ["index.ts"],
];

// The tree to check: src/ of this repository, or a folder given as the first argument (the tests use one).
const root = process.argv[2] ?? join(import.meta.dirname, "..", "src");
const floorOf = new Map(FLOORS.flatMap((names, i) => names.map((n) => [n, i])));
const unitOf = (file) => relative(root, file).split(sep)[0];

function* tsFiles(dir) {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) yield* tsFiles(p);
    else if (e.name.endsWith(".ts")) yield p;
  }
}

const problems = [];
for (const file of tsFiles(root)) {
  const from = unitOf(file);
  if (!floorOf.has(from))
    problems.push(`${relative(root, file)}: folder "${from}" has no floor in scripts/check-layers.mjs`);
  const text = readFileSync(file, "utf8");
  for (const m of text.matchAll(/(?:import|export)\s[^;]*?from\s+"(\.[^"]+)"/g)) {
    const target = normalize(join(dirname(file), m[1]));
    const to = unitOf(target);
    if (to === from) continue;
    const a = floorOf.get(from);
    const b = floorOf.get(to);
    if (b === undefined) problems.push(`${relative(root, file)}: imports "${m[1]}", outside the floors`);
    else if (b >= a)
      problems.push(
        `${relative(root, file)}: imports ${to}/ (floor ${b}) from ${from}/ (floor ${a}): only lower floors may be imported`,
      );
  }
}
if (problems.length > 0) {
  console.error(`check-layers: ${problems.length} import(s) against the floors:\n  ${problems.join("\n  ")}`);
  process.exit(1);
}
console.log(`check-layers: every import in src/ points to a lower floor (${FLOORS.length} floors)`);
