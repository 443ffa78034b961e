// Runs node-gyp for the native addon, shared by build-native.mjs (this machine) and build-prebuilds.mjs (the
// binaries shipped in the package). Uses the node-gyp bundled with the npm next to this node (npm also hands it to
// its scripts as npm_config_node_gyp), else one on PATH; the headers installed with this node when it has them,
// instead of downloading them.
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";

const prefix = join(dirname(process.execPath), "..");
const bundledGyp = join(prefix, "lib", "node_modules", "npm", "node_modules", "node-gyp", "bin", "node-gyp.js");

/** `node-gyp rebuild` in `cwd` with extra arguments; returns spawnSync's result (stdio inherited when verbose). */
export function nodeGypRebuild(cwd, { args = [], env = process.env, verbose = false } = {}) {
  const gyp = process.env.npm_config_node_gyp || (existsSync(bundledGyp) ? bundledGyp : undefined);
  const gypArgs = ["rebuild", "--jobs", "max", ...args];
  if (!process.env.npm_config_nodedir && existsSync(join(prefix, "include", "node", "node_api.h"))) {
    gypArgs.push(`--nodedir=${prefix}`);
  }
  const [cmd, cmdArgs] = gyp ? [process.execPath, [gyp, ...gypArgs]] : ["node-gyp", gypArgs];
  return spawnSync(cmd, cmdArgs, {
    cwd,
    env,
    stdio: verbose ? "inherit" : ["ignore", "pipe", "pipe"],
    encoding: "utf8",
  });
}
