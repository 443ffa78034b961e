/** `loratune export-job`: a training run handed to axolotl or TRL for GPUs (src/api/export-job.ts). */
import type { Command } from "commander";
import { EXPORT_JOB_OPTIONS, type ExportJobOptions, exportJob } from "../api/export-job.ts";
import { launchCommands } from "../api/job-launch.ts";
import { addOptions } from "./options.ts";

export function registerExportJob(program: Command): void {
  const cmd = program
    .command("export-job")
    .description(
      "write a training run (--run DIR, or --config FILE) as a job for axolotl or TRL on GPUs: config or script, converted data, accelerate/DeepSpeed/FSDP configs and a README",
    );
  addOptions(cmd, EXPORT_JOB_OPTIONS);
  cmd.action(async (o: ExportJobOptions) => {
    const r = await exportJob(o);
    const rows = [...r.train, ...r.val].reduce((n, f) => n + f.rows, 0);
    console.log(`wrote ${r.out}: ${r.files.length} files, ${rows} data rows (${r.engine}); see ${r.out}/README.md`);
    for (const [what, command] of launchCommands(r.engine)) console.log(`  ${what}: (cd ${r.out} && ${command})`);
  });
}
