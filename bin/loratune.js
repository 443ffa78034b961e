#!/usr/bin/env node
// The loratune command: runs the TypeScript CLI through tsx's loader (no separate build step).
import { register } from "tsx/esm/api";

register();
const { main } = await import("../src/cli/main.ts");
process.exitCode = await main(process.argv);
