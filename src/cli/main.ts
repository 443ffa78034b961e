/**
 * The loratune command line: one sub-command per file in src/cli/.
 * Errors a user can cause (LoratuneError, commander usage errors) print one or two lines, no stack trace
 * (full trace with --debug), and exit 1 (2 for usage errors).
 */
import { readFileSync } from "node:fs";
import { Command, CommanderError } from "commander";
import { asCommandLine } from "../api/option-names.ts";
import { isLoratuneError } from "../errors.ts";
import { kernelWarning } from "../kernels/index.ts";
import { registerBench } from "./bench.ts";
import { registerDemo } from "./demo.ts";
import { registerEval } from "./eval.ts";
import { registerExport } from "./export.ts";
import { registerExportJob } from "./export-job.ts";
import { registerGenerate } from "./generate.ts";
import { registerInspect } from "./inspect.ts";
import { registerLrFind } from "./lr-find.ts";
import { registerMerge } from "./merge.ts";
import { checkRequiredOptions } from "./options.ts";
import { registerSweep } from "./sweep.ts";
import { registerTrain } from "./train.ts";
import { registerUi } from "./ui.ts";

function packageVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as { version: string };
  return pkg.version;
}

/** Commands that run the kernels: they check LORATUNE_BACKEND first and warn once when native is missing. */
export const COMPUTING_COMMANDS: ReadonlySet<string> = new Set([
  "train",
  "eval",
  "generate",
  "merge",
  "export",
  "bench",
  "demo",
  "lr-find",
  "sweep",
]);

/** The environment variables loratune reads, as `loratune --help` lists them. */
export const ENVIRONMENT_HELP = `
Environment:
  LORATUNE_BACKEND=ref|native       force the kernel backend (default: native when built, else ref)
  LORATUNE_BACKEND=webgpu           train: LoRA on a GPU through the optional webgpu package (Dawn)
  LORATUNE_ISA=generic|avx2|avx512  force the native kernels' instruction set (default: the best this CPU has)
  LORATUNE_BLOCK_COMPUTE=bf16|f32   with AVX512_BF16: multiply q8_0/q4_k/… weights rounded to bf16 (default,
                                    bf16 weights' speed) or widened to f32 exactly (other CPUs' products)
  LORATUNE_THREADS=n                kernel threads (default: every available core)
  LORATUNE_HUGE_PAGES=0             keep weights on 4 KiB pages (default on Linux: buffers of 2 MiB or more
                                    advised for transparent huge pages, which decode reads faster)
  LORATUNE_TORCH_REFERENCE=dir      bench: the PyTorch reference's folder (bench_lora.py) for the comparison
  LORATUNE_MEMORY_LIMIT=bytes       train, bench: the memory a run may take (e.g. 12G) instead of MemAvailable
                                    and any cgroup limit; a run whose estimate exceeds it is refused
  OLLAMA_MODELS=dir                 --model ollama:NAME: Ollama's model store (default ~/.ollama/models)
  HF_HUB_CACHE=dir, HF_HOME=dir     --model org/name: the Hugging Face cache searched (HF_HUB_CACHE, then
                                    HF_HOME/hub, then ~/.cache/huggingface/hub); loratune never downloads
  LORATUNE_SKIP_NATIVE_BUILD=1      npm install in a checkout of the repository: do not build the native kernels
                                    from source (the package itself ships them prebuilt)`;

export function buildProgram(): Command {
  const program = new Command("loratune")
    .description(
      "LoRA fine-tuning for open language models (Llama, Qwen, Mistral, Gemma, Phi-3, GPT-2), on the CPU in front of you",
    )
    .version(packageVersion(), "-V, --version")
    .option("--debug", "print full stack traces on errors")
    .exitOverride()
    .showHelpAfterError("(run with --help for usage)")
    .addHelpText("after", ENVIRONMENT_HELP);
  program.hook("preAction", (_program, command) => {
    // Usage first (every missing option at once), then the backend: a bad LORATUNE_BACKEND is an error, and
    // missing native kernels are said once, before any work.
    checkRequiredOptions(command);
    if (COMPUTING_COMMANDS.has(command.name())) {
      const warning = kernelWarning();
      if (warning) process.stderr.write(`loratune: warning: ${warning}\n`);
    }
  });
  registerDemo(program);
  registerTrain(program);
  registerEval(program);
  registerLrFind(program);
  registerSweep(program);
  registerGenerate(program);
  registerMerge(program);
  registerExport(program);
  registerExportJob(program);
  registerInspect(program);
  registerBench(program);
  registerUi(program);
  return program;
}

/** Runs the CLI on argv (process.argv layout) and returns the exit code. */
export async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  try {
    // Messages name options as flags here; library callers read the same messages in property names.
    await asCommandLine(() => program.parseAsync(argv));
    // A command may set a non-zero status without throwing (train interrupted by a signal: 130).
    return typeof process.exitCode === "number" ? process.exitCode : 0;
  } catch (err) {
    return reportError(err, argv.includes("--debug"));
  }
}

function reportError(err: unknown, debug: boolean): number {
  if (err instanceof CommanderError) {
    // commander already printed help/version/usage text.
    return err.exitCode === 0 ? 0 : 2;
  }
  if (debug && err instanceof Error) console.error(err.stack);
  if (isLoratuneError(err)) {
    console.error(`loratune: ${err.message}`);
    return err.exitCode;
  }
  const message = err instanceof Error ? err.message : String(err);
  console.error(`loratune: unexpected error: ${message}${debug ? "" : " (run with --debug for the stack trace)"}`);
  return 1;
}
