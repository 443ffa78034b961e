/**
 * Runs started from the UI: each one is `loratune train ... --json` in a child process, the same command and code
 * as in a shell, writing an ordinary run directory. Stop sends SIGTERM, on which train finishes its step, writes a
 * checkpoint and exits (130); resume is `loratune train --resume DIR`. The UI reads progress from the run
 * directory (as it does for runs started elsewhere); the child's output is kept only to show why it failed.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { HttpError } from "../errors.ts";

/** The loratune command of this installation (a checkout's runs the sources, a package's the compiled CLI). */
export const CLI_BIN = fileURLToPath(new URL("../../bin/loratune.js", import.meta.url));

/** Output lines kept per child. */
const TAIL_LINES = 40;

export interface ChildState {
  pid: number;
  argv: string[];
  /** null while it runs. */
  exitCode: number | null;
  running: boolean;
  /** The last lines it printed (stderr and stdout). */
  output: string[];
}

export class Launcher {
  private readonly children = new Map<string, { child: ChildProcess; state: ChildState }>();

  /**
   * Starts `loratune ...argv` (a command and its flags) under the key `id` (a run id; "ID#merge" for a merge);
   * refuses while a child of the same key is running.
   */
  start(id: string, argv: string[]): ChildState {
    if (this.children.get(id)?.state.running) throw new HttpError(409, `${id} is already running`);
    const child = spawn(process.execPath, [CLI_BIN, ...argv], { stdio: ["ignore", "pipe", "pipe"] });
    const state: ChildState = { pid: child.pid ?? -1, argv, exitCode: null, running: true, output: [] };
    const keep = (chunk: Buffer) => {
      state.output.push(...chunk.toString("utf8").split("\n").filter(Boolean));
      state.output.splice(0, Math.max(0, state.output.length - TAIL_LINES));
    };
    child.stdout?.on("data", keep);
    child.stderr?.on("data", keep);
    child.on("exit", (code, signal) => {
      state.running = false;
      state.exitCode = code ?? (signal ? 128 : 1);
    });
    child.on("error", (err) => {
      state.running = false;
      state.exitCode = 1;
      state.output.push(err.message);
    });
    this.children.set(id, { child, state });
    return state;
  }

  /** Resolves with the child's state once the child of `id` has exited. */
  exited(id: string): Promise<ChildState | null> {
    const entry = this.children.get(id);
    if (!entry?.state.running) return Promise.resolve(entry?.state ?? null);
    return new Promise((resolve) => entry.child.once("exit", () => setImmediate(() => resolve(entry.state))));
  }

  state(id: string): ChildState | null {
    return this.children.get(id)?.state ?? null;
  }

  /** Asks the run's child to checkpoint and stop (SIGTERM); false when the UI has no running child for it. */
  stop(id: string): boolean {
    const entry = this.children.get(id);
    if (!entry?.state.running) return false;
    entry.child.kill("SIGTERM");
    return true;
  }

  /** Stops every running child (each checkpoints first) and waits for them to exit. */
  async stopAll(): Promise<void> {
    const waits: Promise<void>[] = [];
    for (const { child, state } of this.children.values()) {
      if (!state.running) continue;
      waits.push(new Promise((resolve) => child.once("exit", () => resolve())));
      child.kill("SIGTERM");
    }
    await Promise.all(waits);
  }
}
