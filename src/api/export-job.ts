/**
 * `exportJob()`, behind `loratune export-job`: a training run (or train settings) handed to another engine, axolotl
 * or TRL, for GPUs: the engine's config (axolotl YAML, or a TRL script), the data converted to rows it reads, the
 * chat template the run trained with, accelerate and DeepSpeed configs for several GPUs, and a README with the
 * launch commands and what the engine does not keep. The folder is written whole to a temporary sibling and
 * renamed into place; --overwrite replaces only an earlier export-job folder.
 */
import { copyFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { validationFiles } from "../data/dataset-folder.ts";
import { writeDirAtomic } from "../io/output-dir.ts";
import { checkOutputDir } from "../io/output-guard.ts";
import { writeMarker } from "../io/run-marker.ts";
import { AXOLOTL_CONFIG_FILE, axolotlConfig, axolotlYaml, JOB_TEMPLATE } from "./job-axolotl.ts";
import { type JobDataFile, type JobEngine, writeJobData } from "./job-data.ts";
import { launchFiles } from "./job-launch.ts";
import { jobReadme } from "./job-readme.ts";
import { readJobSettings, refuseLayersWithStringTargets } from "./job-settings.ts";
import { TRL_SCRIPT, trlFormat, trlScript } from "./job-trl.ts";
import { inCallerTerms } from "./option-names.ts";
import { type OptionDef, resolveOptions } from "./options.ts";

export const EXPORT_JOB_OPTIONS: readonly OptionDef[] = [
  {
    key: "run",
    kind: "string",
    help: "the training run to export (its config.yaml and chat template)",
    metavar: "dir",
  },
  { key: "config", kind: "string", help: "or: a train --config file (YAML/JSON) to export", metavar: "file" },
  { key: "engine", kind: "choice", choices: ["axolotl", "trl"], help: "the engine that will train", required: true },
  { key: "out", kind: "string", help: "the job folder to write", metavar: "dir", required: true },
  { key: "overwrite", kind: "bool", help: "replace a --out folder export-job wrote before", default: false },
];

export interface ExportJobOptions {
  /** A training run directory (its config.yaml); or `config`. */
  run?: string;
  /** A train config file (YAML/JSON, keys as train's flags); or `run`. */
  config?: string;
  engine: JobEngine;
  out: string;
  /** @defaultValue false */
  overwrite?: boolean;
}

export interface ExportJobResult {
  out: string;
  engine: JobEngine;
  /** The files written, relative to `out`. */
  files: string[];
  train: JobDataFile[];
  val: JobDataFile[];
}

export function exportJob(options: ExportJobOptions): Promise<ExportJobResult> {
  return inCallerTerms(EXPORT_JOB_OPTIONS, async () =>
    writeJob(resolveOptions("exportJob", EXPORT_JOB_OPTIONS, options)),
  );
}

function writeJob(
  o: Required<Pick<ExportJobOptions, "engine" | "out" | "overwrite">> & ExportJobOptions,
): ExportJobResult {
  const s = readJobSettings(o.run, o.config);
  refuseLayersWithStringTargets(s, o.engine);
  const valSources = validationFiles(s.val ?? undefined, s.data);
  const inputs = [
    ...s.data.map((path) => ({ flag: "--data", path })),
    ...(o.run !== undefined ? [{ flag: "--run", path: o.run }] : [{ flag: "--config", path: o.config! }]),
  ];
  const at = checkOutputDir({ out: o.out, inputs, overwrite: o.overwrite, replaceable: ["export-job"] });
  const result: ExportJobResult = { out: o.out, engine: o.engine, files: [], train: [], val: [] };
  writeDirAtomic(o.out, at === "replace", (tmp) => {
    result.train = writeJobData(tmp, "train", s.data, o.engine);
    result.val = valSources ? writeJobData(tmp, "val", valSources, o.engine) : [];
    const files: Record<string, string> = launchFiles(s.dtype === "bf16");
    if (o.engine === "axolotl") {
      const config = axolotlConfig(s, result.train, result.val);
      files[AXOLOTL_CONFIG_FILE] = axolotlYaml(
        config,
        `axolotl config written by loratune export-job from ${s.source}`,
      );
    } else {
      trlFormat([...result.train, ...result.val]);
      files[TRL_SCRIPT] = trlScript(s, result.train, result.val);
    }
    if (s.chatTemplate !== null) copyFileSync(s.chatTemplate, join(tmp, JOB_TEMPLATE));
    const names = [...Object.keys(files), ...(s.chatTemplate !== null ? [JOB_TEMPLATE] : [])];
    result.files = [...names, ...[...result.train, ...result.val].map((f) => f.path), "README.md"].sort();
    for (const [name, text] of Object.entries(files)) writeFileSync(join(tmp, name), text);
    writeFileSync(join(tmp, "README.md"), jobReadme(s, o.engine, result.files, result.train, result.val));
    writeMarker(tmp, { kind: "export-job" });
  });
  return result;
}
