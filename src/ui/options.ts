/** `loratune ui`'s options (the CLI registers its flags from this table). */
import type { OptionDef } from "../api/options.ts";

export const UI_OPTIONS: readonly OptionDef[] = [
  {
    key: "workspace",
    kind: "string",
    help: "folder of runs, uploads and data: every run directory under it is listed, new runs go to its runs/",
    default: ".",
    metavar: "dir",
  },
  { key: "port", kind: "int", help: "port to listen on (0: any free port)", default: 7860, min: 0, max: 65535 },
  {
    key: "host",
    kind: "string",
    help: "address to listen on; anything but loopback exposes the workspace to the network (a warning is printed)",
    default: "127.0.0.1",
    metavar: "addr",
  },
  {
    key: "models",
    kind: "string",
    help: "model folders or GGUF files outside the workspace the page may use (comma-separated)",
    metavar: "paths",
  },
  { key: "max-upload", kind: "int", help: "largest data upload, in MiB", default: 256, min: 1 },
];

/** Whether `host` is reachable only from this machine (localhost, ::1, 127.0.0.0/8). */
export function isLoopback(host: string): boolean {
  return host === "localhost" || host === "::1" || /^127\.\d+\.\d+\.\d+$/.test(host);
}
