/**
 * PyTorch's matmul rates in the same bench run, for the limits section: the best GFLOP/s of
 * torch.nn.functional.linear (out[M,N] = x[M,K]·W[N,K]ᵀ, the nn.Linear layout training and inference call) on
 * the same shapes and threads as loratune's own peak (peak.ts), in f32 (through the BLAS PyTorch maps, OpenBLAS
 * on Debian) and in bf16 (both operands bf16, as autocast makes them: oneDNN's bf16 product where the CPU has
 * AVX-512, else PyTorch's own fallback; the probe reports PyTorch's "CPU capability" to say which). The method is
 * bench_gemm.py's from the PyTorch reference (best of `reps` calls after one untimed call), which measures f32
 * only; this probe is loratune's own, a short program given to `python -c`, so it needs no reference file.
 */
import { LoratuneError } from "../errors.ts";
import { runChild } from "./spawn.ts";
import { type TorchSetup, torchEnv } from "./torch.ts";

/** The probe: argv[1] sizes as JSON [[M, N, K], …], argv[2] reps, argv[3] threads; one JSON line per (size, dtype). */
export const TORCH_GEMM_PROBE = `
import json, sys, time, torch
sizes, reps, threads = json.loads(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
torch.set_num_threads(threads)
torch.manual_seed(0)
cap = next((l.split(":", 1)[1].strip() for l in torch.__config__.show().splitlines() if "CPU capability" in l), "unknown")
linear = torch.nn.functional.linear
for M, N, K in sizes:
    for name, dtype in (("f32", torch.float32), ("bf16", torch.bfloat16)):
        x, w = torch.randn(M, K).to(dtype), torch.randn(N, K).to(dtype)
        linear(x, w)
        best = float("inf")
        for _ in range(reps):
            t = time.perf_counter()
            linear(x, w)
            best = min(best, time.perf_counter() - t)
        print(json.dumps({"dtype": name, "M": M, "N": N, "K": K, "gflops": 2 * M * N * K / best / 1e9, "capability": cap}))
`;

export interface TorchGemmEntry {
  dtype: "f32" | "bf16";
  M: number;
  N: number;
  K: number;
  gflops: number;
}

export interface TorchGemmResult {
  entries: TorchGemmEntry[];
  /** Best GFLOP/s per dtype. */
  f32Gflops: number;
  bf16Gflops: number;
  /** PyTorch's "CPU capability usage" (AVX2, AVX512, …): oneDNN's bf16 path needs AVX-512. */
  capability: string;
}

/** The probe's stdout as a result; throws naming what is missing when it printed no entry of a dtype. */
export function parseTorchGemm(stdout: string): TorchGemmResult {
  const lines = stdout.split("\n").filter((l) => l.trim().startsWith("{"));
  const parsed = lines.map((l) => JSON.parse(l) as TorchGemmEntry & { capability: string });
  const best = (dtype: "f32" | "bf16") => {
    const rates = parsed.filter((e) => e.dtype === dtype && Number.isFinite(e.gflops)).map((e) => e.gflops);
    if (rates.length === 0) throw new LoratuneError("ERR_IO", `PyTorch's matmul probe printed no ${dtype} rate`);
    return Math.max(...rates);
  };
  return {
    entries: parsed.map(({ dtype, M, N, K, gflops }) => ({ dtype, M, N, K, gflops })),
    f32Gflops: best("f32"),
    bf16Gflops: best("bf16"),
    capability: parsed[0]?.capability ?? "unknown",
  };
}

/** Runs the probe under `setup`'s Python and wait policy. */
export async function runTorchGemm(
  setup: TorchSetup,
  sizes: [number, number, number][],
  reps: number,
  threads: number,
): Promise<TorchGemmResult> {
  const args = ["-c", TORCH_GEMM_PROBE, JSON.stringify(sizes), String(reps), String(threads)];
  const r = await runChild(setup.python, args, torchEnv(process.env, setup.waitPolicy), false);
  if (r.status !== 0) {
    const tail = r.stderr.trim().split("\n").at(-1) || r.error?.message || "no output";
    throw new LoratuneError("ERR_IO", `PyTorch's matmul probe failed (exit ${r.status}): ${tail}`);
  }
  return parseTorchGemm(r.stdout);
}

/** The better of two probes (per entry and dtype); a failed probe gives way to one that ran. */
export function bestTorchGemm(
  a: TorchGemmResult | { error: string },
  b: TorchGemmResult | { error: string },
): TorchGemmResult | { error: string } {
  if ("error" in a) return b;
  if ("error" in b) return a;
  return {
    ...a,
    entries: a.entries.map((e, i) => ({ ...e, gflops: Math.max(e.gflops, b.entries[i]?.gflops ?? 0) })),
    f32Gflops: Math.max(a.f32Gflops, b.f32Gflops),
    bf16Gflops: Math.max(a.bf16Gflops, b.bf16Gflops),
  };
}
