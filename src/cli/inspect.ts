/** `loratune inspect --system`: which kernel backend, ISA and thread count are active. */
import { cpus, totalmem } from "node:os";
import type { Command } from "commander";
import { getKernels, kernelNotice } from "../kernels/index.ts";

export function systemReport(): Record<string, string | number> {
  const k = getKernels();
  const notice = kernelNotice();
  return {
    backend: k.name,
    isa: k.isa,
    threads: k.threads,
    cpu: cpus()[0]?.model ?? "unknown",
    cores: cpus().length,
    memory_gib: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    node: process.version,
    ...(notice ? { notice } : {}),
  };
}

export function registerInspect(program: Command): void {
  program
    .command("inspect")
    .description("show the compute backend in use (--system)")
    .option("--system", "print the kernel backend, instruction set and thread count", true)
    .option("--json", "print one JSON object")
    .action((opts: { json?: boolean }) => {
      const report = systemReport();
      if (opts.json) {
        console.log(JSON.stringify(report));
        return;
      }
      for (const [key, value] of Object.entries(report)) console.log(`${key.padEnd(10)} ${value}`);
    });
}
