/**
 * `--revision`, shared by every command that takes --model: which snapshot of a Hugging Face cache id
 * (`--model org/name`) to use, a branch or tag name (its refs/<name> file) or a full commit hash. Without it, the
 * cache's refs/main. A local path has no revisions: giving one with it is a usage error (model/load.ts).
 */
import type { OptionDef } from "./options.ts";

export const REVISION_OPTION: OptionDef = {
  key: "revision",
  kind: "string",
  help: "with --model org/name (a Hugging Face cache id): the branch, tag or commit hash of the cached snapshot (default: main)",
  metavar: "ref",
};
