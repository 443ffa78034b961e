/**
 * A training run directory's life. It is opened only after every input was read and validated:
 *  - new: created, and marked (loratune.json, status "running");
 *  - replace (--overwrite of an earlier loratune run): the earlier run is moved aside and deleted only once the
 *    new run has got somewhere (finished, interrupted, or left a checkpoint);
 *  - resume: the run's own directory, kept as it is.
 * A run that fails removes what it created when it has nothing worth keeping (and puts a replaced run back);
 * otherwise it is marked "failed" with the error, and `describe` says what was left.
 */
import { existsSync, mkdirSync, renameSync, rmSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { type RunStatus, readMarker, writeMarker } from "../io/run-marker.ts";
import { listCheckpoints } from "../train/checkpoint.ts";

export type RunDirMode = "new" | "replace" | "resume";

export class RunDir {
  private aside: string | null = null;
  private created = false;
  private totalSteps = 0;

  private constructor(
    readonly path: string,
    readonly mode: RunDirMode,
  ) {}

  /** Creates (or moves the earlier run aside and creates) the directory. */
  static open(path: string, mode: RunDirMode): RunDir {
    const run = new RunDir(path, mode);
    if (mode === "replace" && existsSync(path)) {
      run.aside = join(dirname(path), `.${basename(path)}.replaced-${process.pid}`);
      rmSync(run.aside, { recursive: true, force: true });
      renameSync(path, run.aside);
    }
    if (!existsSync(path)) {
      mkdirSync(path, { recursive: true });
      run.created = true;
    }
    return run;
  }

  markRunning(stepsDone: number, totalSteps: number, bestValLoss: number | null): void {
    this.totalSteps = totalSteps;
    writeMarker(this.path, {
      kind: "run",
      status: "running",
      steps_done: stepsDone,
      total_steps: totalSteps,
      best_val_loss: bestValLoss,
    });
  }

  /** Records how the run ended and drops the run it replaced. */
  finish(status: RunStatus, stepsDone: number, bestValLoss: number | null): void {
    writeMarker(this.path, {
      kind: "run",
      status,
      steps_done: stepsDone,
      total_steps: this.totalSteps,
      best_val_loss: bestValLoss,
    });
    this.dropAside();
  }

  /**
   * After an error: removes a directory this run created that holds no checkpoint (restoring a replaced run),
   * or marks the run failed. Returns one line saying what is left.
   */
  fail(err: unknown): string {
    const checkpoints = listCheckpoints(join(this.path, "checkpoints"));
    const message = err instanceof Error ? err.message.split("\n")[0]! : String(err);
    if (this.mode !== "resume" && this.created && checkpoints.length === 0) {
      rmSync(this.path, { recursive: true, force: true });
      if (this.aside) {
        renameSync(this.aside, this.path);
        this.aside = null;
        return `the failed run left nothing; ${this.path} holds the earlier run again, as it was`;
      }
      return `the failed run left nothing; ${this.path} was removed`;
    }
    const marker = safeMarker(this.path);
    writeMarker(this.path, {
      kind: "run",
      status: "failed",
      steps_done: marker?.steps_done ?? 0,
      total_steps: marker?.total_steps ?? this.totalSteps,
      best_val_loss: marker?.best_val_loss ?? null,
      error: message,
    });
    this.dropAside();
    const last = checkpoints.at(-1);
    return last
      ? `${this.path} is kept with its last checkpoint (${last}); continue it with: loratune train --resume ${this.path}`
      : `${this.path} is kept as it was before this attempt`;
  }

  private dropAside(): void {
    if (this.aside) rmSync(this.aside, { recursive: true, force: true });
    this.aside = null;
  }
}

function safeMarker(dir: string) {
  try {
    return readMarker(dir);
  } catch {
    return null;
  }
}
